from .bbox import bbox_overlaps, cxcywh_to_xyxy, xyxy_to_cxcywh
from .det_data_sample import DetDataSample

__all__ = ['DetDataSample', 'bbox_overlaps', 'cxcywh_to_xyxy', 'xyxy_to_cxcywh']
