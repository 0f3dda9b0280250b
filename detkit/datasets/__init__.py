"""Datasets, samplers and transforms; importing this registers them all."""
from . import transforms  # noqa: F401  (registers the transforms)
from .base_det_dataset import BaseDetDataset
from .coco import COCO_CLASSES, CocoDataset
from .samplers import AspectRatioBatchSampler
from .synthetic import (SYNTHETIC_CLASSES, ensure_synthetic_dataset,
                        generate_synthetic_coco)
from .synthetic_coco import SyntheticCocoDataset
from .voc import VOC_CLASSES, VOCDataset

__all__ = ['AspectRatioBatchSampler', 'BaseDetDataset', 'COCO_CLASSES', 'CocoDataset',
           'SYNTHETIC_CLASSES', 'SyntheticCocoDataset', 'VOC_CLASSES', 'VOCDataset',
           'ensure_synthetic_dataset', 'generate_synthetic_coco']
