"""Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", 2017)."""
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from detkit.registry import MODELS
from .fused_focal_loss import fused_path_applies, fused_sigmoid_focal_loss
from .utils import WeightedLoss, weight_reduce_loss


def _hard_target_loss(pred: Tensor, labels: Tensor, neg_loss: Callable[[Tensor], Tensor],
                      pos_loss: Callable[[Tensor], Tensor]) -> Tensor:
    """Elementwise ``[N, K]`` loss for class labels without building a one-hot.

    Every element first gets the loss of a zero target; then the one element
    per row whose target is 1 (label ``< K``; ``K`` is background) is
    replaced by the positive loss. Same numbers as the one-hot formula.
    """
    num_classes = pred.size(1)
    idx = labels.long().clamp(max=num_classes - 1).unsqueeze(1)
    loss = neg_loss(pred)
    positive = (labels < num_classes).unsqueeze(1)
    at_label = torch.where(positive, pos_loss(pred.gather(1, idx)), loss.gather(1, idx))
    return loss.scatter(1, idx, at_label)


def _match_weight(weight: Optional[Tensor], loss: Tensor) -> Optional[Tensor]:
    """A per-sample ``[N]`` weight as ``[N, 1]``; other shapes reshaped to ``loss``'s rows."""
    if weight is None or weight.shape == loss.shape:
        return weight
    if weight.size(0) == loss.size(0) and weight.numel() == loss.size(0):
        return weight.reshape(-1, 1)
    if weight.numel() != loss.numel():
        raise ValueError(f'focal loss weight of shape {tuple(weight.shape)} fits neither the '
                         f'samples nor the elements of a loss of shape {tuple(loss.shape)}')
    return weight.reshape(loss.shape)


def _bce_with_zero_target(pred: Tensor, activated: bool) -> Tensor:
    """Elementwise BCE of ``pred`` (logits, or probabilities if ``activated``) against 0."""
    if activated:
        return -torch.log1p(-pred).clamp(min=-100)
    # torch's BCE-with-logits formula, so that results match it bit for bit
    return pred - F.logsigmoid(pred)


def _bce_with_one_target(pred: Tensor, activated: bool) -> Tensor:
    """Elementwise BCE of ``pred`` (logits, or probabilities if ``activated``) against 1."""
    return -torch.log(pred).clamp(min=-100) if activated else -F.logsigmoid(pred)


def _focal_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma: float,
                alpha: float, reduction: str, avg_factor: Optional[Union[float, Tensor]],
                activated: bool) -> Tensor:
    if target.dim() == pred.dim():
        prob = pred if activated else pred.sigmoid()
        target = target.type_as(pred)
        pt = (1 - prob) * target + prob * (1 - target)
        focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
        bce = (F.binary_cross_entropy(pred, target, reduction='none') if activated else
               F.binary_cross_entropy_with_logits(pred, target, reduction='none'))
        loss = bce * focal_weight
    elif target.dim() == pred.dim() - 1 and not target.is_floating_point():
        def neg_loss(x: Tensor) -> Tensor:
            prob = x if activated else x.sigmoid()
            return _bce_with_zero_target(x, activated) * ((1 - alpha) * prob.pow(gamma))

        def pos_loss(x: Tensor) -> Tensor:
            prob = x if activated else x.sigmoid()
            return _bce_with_one_target(x, activated) * (alpha * (1 - prob).pow(gamma))

        loss = _hard_target_loss(pred, target, neg_loss, pos_loss)
    else:
        raise ValueError(f'focal loss target must be integer labels [N] or a float [N, K] '
                         f'like pred {tuple(pred.shape)}, got {target.dtype} '
                         f'{tuple(target.shape)}')
    return weight_reduce_loss(loss, _match_weight(weight, loss), reduction, avg_factor)


def sigmoid_focal_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                       gamma: float = 2.0, alpha: float = 0.25, reduction: str = 'mean',
                       avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Focal loss on logits: ``BCE(x, t) * (alpha t + (1 - alpha)(1 - t)) * pt ** gamma``.

    Args:
        pred: ``[N, K]`` logits.
        target: ``[N]`` int64 labels in ``[0, K]`` (``K`` = background, all
            targets 0) or ``[N, K]`` float one-hot / soft targets.
        weight: ``[N]`` per sample (broadcast over classes) or ``[N, K]``.
        gamma, alpha: focusing and balancing parameters.
        reduction, avg_factor: see :func:`weight_reduce_loss`.

    Returns:
        ``[N, K]`` for 'none', else a scalar.
    """
    if fused_path_applies(pred, target, weight, reduction):
        # the common case (labels, reduced): same numbers, a fraction of the time
        return fused_sigmoid_focal_loss(pred, target, weight, gamma, alpha, reduction,
                                        avg_factor)
    return _focal_loss(pred, target, weight, gamma, alpha, reduction, avg_factor, False)


def focal_loss_with_prob(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                         gamma: float = 2.0, alpha: float = 0.25, reduction: str = 'mean',
                         avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """:func:`sigmoid_focal_loss` for ``pred`` that are already probabilities in [0, 1].

    The log terms are floored at -100, as ``F.binary_cross_entropy`` does.
    """
    return _focal_loss(pred, target, weight, gamma, alpha, reduction, avg_factor, True)


@MODELS.register_module()
class FocalLoss(WeightedLoss):
    """Sigmoid focal loss module.

    Args:
        use_sigmoid: must be True (the softmax focal loss is not implemented).
        gamma: focusing parameter, ``>= 0``.
        alpha: weight of the positive targets, in [0, 1].
        reduction: 'none', 'mean' or 'sum'.
        loss_weight: factor on the result.
        activated: ``pred`` holds probabilities rather than logits.
    """

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0, alpha: float = 0.25,
                 reduction: str = 'mean', loss_weight: float = 1.0,
                 activated: bool = False) -> None:
        if not use_sigmoid:
            raise NotImplementedError('FocalLoss supports only use_sigmoid=True; the softmax '
                                      'focal loss is not implemented')
        if gamma < 0:
            raise ValueError(f'FocalLoss gamma must be >= 0, got {gamma}')
        if not 0 <= alpha <= 1:
            raise ValueError(f'FocalLoss alpha must be in [0, 1], got {alpha}')
        super().__init__(reduction, loss_weight)
        self.use_sigmoid = use_sigmoid
        self.gamma = gamma
        self.alpha = alpha
        self.activated = activated

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of ``pred [N, K]`` against labels ``[N]`` or targets ``[N, K]``."""
        loss_fn = focal_loss_with_prob if self.activated else sigmoid_focal_loss
        return self.loss_weight * loss_fn(
            pred, target, weight, gamma=self.gamma, alpha=self.alpha,
            reduction=self.resolve_reduction(reduction_override), avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return (f'gamma={self.gamma}, alpha={self.alpha}, activated={self.activated}, '
                + super().extra_repr())
