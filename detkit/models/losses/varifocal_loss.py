"""Varifocal loss (Zhang et al., "VarifocalNet: An IoU-aware Dense Object Detector", 2021)."""
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from detkit.registry import MODELS
from .utils import WeightedLoss, weight_reduce_loss


def varifocal_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                   alpha: float = 0.75, gamma: float = 2.0, iou_weighted: bool = True,
                   reduction: str = 'mean',
                   avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """``BCE(x, q) * w``: ``w = q`` (or 1) where ``q > 0``, ``alpha * p ** gamma`` where ``q = 0``.

    Positives are weighted by their target IoU-aware score ``q`` (when
    ``iou_weighted``); only negatives are down-weighted by the focal term,
    ``alpha * |p - q| ** gamma`` with ``p = sigmoid(x)``.

    Args:
        pred: ``[N, K]`` logits.
        target: ``[N, K]`` soft targets ``q`` in [0, 1] (e.g. the IoU of the
            predicted box with its gt at the gt's class, 0 elsewhere).
        weight: broadcastable to ``[N, K]``.
    """
    if pred.shape != target.shape:
        raise ValueError(f'varifocal_loss expects pred and target of one shape [N, K], got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')
    target = target.type_as(pred)
    positive = target > 0
    negative_weight = alpha * (pred.sigmoid() - target).abs().pow(gamma)
    positive_weight = target if iou_weighted else torch.ones_like(target)
    focal_weight = torch.where(positive, positive_weight, negative_weight)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction='none') * focal_weight
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class VarifocalLoss(WeightedLoss):
    """:func:`varifocal_loss` as a module.

    Args:
        use_sigmoid: must be True.
        alpha: weight of the negatives, ``>= 0``.
        gamma: focusing parameter of the negatives, ``>= 0``.
        iou_weighted: weight positives by their target score.
        reduction, loss_weight: as every loss.
    """

    def __init__(self, use_sigmoid: bool = True, alpha: float = 0.75, gamma: float = 2.0,
                 iou_weighted: bool = True, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        if not use_sigmoid:
            raise NotImplementedError('VarifocalLoss supports only use_sigmoid=True')
        if alpha < 0 or gamma < 0:
            raise ValueError(f'VarifocalLoss alpha and gamma must be >= 0, got alpha={alpha}, '
                             f'gamma={gamma}')
        super().__init__(reduction, loss_weight)
        self.use_sigmoid = use_sigmoid
        self.alpha = alpha
        self.gamma = gamma
        self.iou_weighted = iou_weighted

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of logits ``pred [N, K]`` against soft targets ``target [N, K]``."""
        return self.loss_weight * varifocal_loss(
            pred, target, weight, self.alpha, self.gamma, self.iou_weighted,
            reduction=self.resolve_reduction(reduction_override), avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, gamma={self.gamma}, iou_weighted={self.iou_weighted}, '
                + super().extra_repr())
