"""Losses of the dense heads, registered in MODELS."""
from .cross_entropy_loss import (CrossEntropyLoss, binary_cross_entropy, cross_entropy,
                                 mask_cross_entropy)
from .focal_loss import FocalLoss, focal_loss_with_prob, sigmoid_focal_loss
from .giou_loss import GIoULoss, giou_loss
from .smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from .utils import reduce_loss, weight_reduce_loss
from .varifocal_loss import VarifocalLoss, varifocal_loss

__all__ = [
    'CrossEntropyLoss', 'FocalLoss', 'GIoULoss', 'L1Loss', 'SmoothL1Loss', 'VarifocalLoss',
    'binary_cross_entropy', 'cross_entropy', 'focal_loss_with_prob', 'giou_loss', 'l1_loss',
    'mask_cross_entropy', 'reduce_loss', 'sigmoid_focal_loss', 'smooth_l1_loss',
    'varifocal_loss', 'weight_reduce_loss'
]
