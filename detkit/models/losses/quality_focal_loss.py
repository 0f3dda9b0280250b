"""Quality focal loss (Li et al., "Generalized Focal Loss", NeurIPS 2020)."""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from detkit.registry import MODELS
from .utils import WeightedLoss, weight_reduce_loss

QFLTarget = Union[Tensor, Tuple[Tensor, Tensor]]


def soft_target_from_labels(labels: Tensor, scores: Tensor, num_classes: int) -> Tensor:
    """``[N, K]`` soft one-hot: ``scores[i]`` at column ``labels[i]``, 0 elsewhere.

    Args:
        labels: ``[N]`` int in ``[0, K]``; ``K`` (background) gives a row of zeros.
        scores: ``[N]`` the target quality (e.g. IoU) of each row's label.
        num_classes: ``K``.
    """
    foreground = (labels >= 0) & (labels < num_classes)
    column = labels.long().clamp(min=0, max=num_classes - 1).unsqueeze(1)
    value = torch.where(foreground, scores, 0).unsqueeze(1)
    return scores.new_zeros(labels.size(0), num_classes).scatter_(1, column, value)


def quality_focal_loss(pred: Tensor, target: QFLTarget, weight: Optional[Tensor] = None,
                       beta: float = 2.0, activated: bool = False, reduction: str = 'mean',
                       avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """``BCE(x, q) * |q - p| ** beta`` per element, summed over the classes.

    ``p = sigmoid(x)`` (or ``x`` if ``activated``) and ``q`` the soft target:
    the quality score (IoU with the gt) at the gt's class, 0 elsewhere. On
    a 0 target it is the focal term ``BCE(x, 0) * p ** beta``; MMDetection's
    label form and tensor form both come to this one formula, which needs no
    indexing of the positives (fixed shapes, no host sync).

    Args:
        pred: ``[N, K]`` logits (probabilities if ``activated``).
        target: ``(labels [N], scores [N])`` with labels in ``[0, K]`` (``K``
            = background), or a float ``[N, K]`` soft target.
        weight: ``[N]`` per row (applied to the row sum) or ``[N, K]`` per element.
        beta: focusing parameter.
        activated: ``pred`` holds probabilities; log terms floored at -100
            as ``F.binary_cross_entropy`` does.
        reduction, avg_factor: see :func:`weight_reduce_loss`.

    Returns:
        ``[N]`` for 'none', else a scalar.
    """
    if pred.dim() != 2:
        raise ValueError(f'quality_focal_loss expects pred [N, K], got {tuple(pred.shape)}')
    if isinstance(target, (tuple, list)):
        if len(target) != 2:
            raise ValueError(f'quality_focal_loss target must be (labels, scores) or a [N, K] '
                             f'tensor, got a sequence of {len(target)}')
        labels, scores = target
        target = soft_target_from_labels(labels, scores.type_as(pred), pred.size(1))
    elif target.shape != pred.shape:
        raise ValueError(f'quality_focal_loss expects a soft target of pred\'s shape '
                         f'{tuple(pred.shape)}, got {tuple(target.shape)}')
    target = target.type_as(pred)
    if activated:
        prob = pred
        bce = F.binary_cross_entropy(pred, target, reduction='none')
    else:
        prob = pred.sigmoid()
        bce = F.binary_cross_entropy_with_logits(pred, target, reduction='none')
    loss = bce * (target - prob).abs().pow(beta)
    if weight is not None and weight.dim() == 2:
        loss, weight = loss * weight, None
    return weight_reduce_loss(loss.sum(dim=1), weight, reduction, avg_factor)


@MODELS.register_module()
class QualityFocalLoss(WeightedLoss):
    """:func:`quality_focal_loss` as a module, for joint class-quality scores (GFL).

    One call pattern: ``loss(cls_score [N, K], target, weight [N], avg_factor=...)``
    where ``target`` is a soft ``[N, K]`` score tensor (what detkit's heads
    pass) or MMDetection's ``(labels [N], scores [N])``; both give the same number.

    Args:
        use_sigmoid: must be True.
        beta: focusing parameter, ``>= 0``.
        reduction, loss_weight: as every loss.
        activated: ``pred`` holds probabilities rather than logits.
    """

    def __init__(self, use_sigmoid: bool = True, beta: float = 2.0, reduction: str = 'mean',
                 loss_weight: float = 1.0, activated: bool = False) -> None:
        if not use_sigmoid:
            raise NotImplementedError('QualityFocalLoss supports only use_sigmoid=True')
        if beta < 0:
            raise ValueError(f'QualityFocalLoss beta must be >= 0, got {beta}')
        super().__init__(reduction, loss_weight)
        self.use_sigmoid = use_sigmoid
        self.beta = beta
        self.activated = activated

    def forward(self, pred: Tensor, target: QFLTarget, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of ``pred [N, K]`` against a soft ``[N, K]`` target or ``(labels, scores)``."""
        return self.loss_weight * quality_focal_loss(
            pred, target, weight, self.beta, self.activated,
            reduction=self.resolve_reduction(reduction_override), avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return f'beta={self.beta}, activated={self.activated}, ' + super().extra_repr()
