"""Evaluation: COCO metrics and prediction dumps (registered in METRICS)."""
from .coco_metric import CocoMetric
from .dump_det_results import DumpDetResults

__all__ = ['CocoMetric', 'DumpDetResults']
