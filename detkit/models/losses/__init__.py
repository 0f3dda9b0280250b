"""Losses of the dense heads, registered in MODELS."""
from .cross_entropy_loss import (CrossEntropyLoss, binary_cross_entropy, cross_entropy,
                                 mask_cross_entropy)
from .distribution_focal_loss import DistributionFocalLoss, distribution_focal_loss
from .focal_loss import FocalLoss, focal_loss_with_prob, sigmoid_focal_loss
from .giou_loss import GIoULoss, giou_loss
from .iou_loss import IoULoss, aligned_iou, iou_loss
from .quality_focal_loss import QualityFocalLoss, quality_focal_loss, soft_target_from_labels
from .smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from .utils import reduce_loss, weight_reduce_loss
from .varifocal_loss import VarifocalLoss, varifocal_loss

__all__ = [
    'CrossEntropyLoss', 'DistributionFocalLoss', 'FocalLoss', 'GIoULoss', 'IoULoss', 'L1Loss',
    'QualityFocalLoss', 'SmoothL1Loss', 'VarifocalLoss', 'aligned_iou', 'binary_cross_entropy',
    'cross_entropy', 'distribution_focal_loss', 'focal_loss_with_prob', 'giou_loss', 'iou_loss',
    'l1_loss', 'mask_cross_entropy', 'quality_focal_loss', 'reduce_loss', 'sigmoid_focal_loss',
    'smooth_l1_loss', 'soft_target_from_labels', 'varifocal_loss', 'weight_reduce_loss'
]
