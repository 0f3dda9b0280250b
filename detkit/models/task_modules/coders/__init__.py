from .delta_xywh_bbox_coder import DeltaXYWHBBoxCoder
from .distance_point_bbox_coder import DistancePointBBoxCoder

__all__ = ['DeltaXYWHBBoxCoder', 'DistancePointBBoxCoder']
