from .bbox import bbox_overlaps, cxcywh_to_xyxy, xyxy_to_cxcywh
from .det_data_sample import DetDataSample
from .gt_batch import GtBatch

__all__ = ['DetDataSample', 'GtBatch', 'bbox_overlaps', 'cxcywh_to_xyxy', 'xyxy_to_cxcywh']
