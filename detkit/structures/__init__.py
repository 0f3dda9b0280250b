from .bbox import bbox_overlaps, cxcywh_to_xyxy, xyxy_to_cxcywh
from .det_data_sample import DetDataSample
from .padded_instances import pad_boxes_and_labels, pad_ignored_boxes

__all__ = ['DetDataSample', 'bbox_overlaps', 'cxcywh_to_xyxy', 'pad_boxes_and_labels',
           'pad_ignored_boxes', 'xyxy_to_cxcywh']
