"""Weighting and reduction shared by the losses (MMDetection's rules)."""
from typing import Optional, Union

import torch
from torch import Tensor, nn

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(owner: str, reduction: str, name: str = 'reduction') -> str:
    """``reduction`` if it is one of 'none', 'mean', 'sum'; else a ValueError naming ``owner``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner} {name} must be 'none', 'mean' or 'sum', got {reduction!r}")
    return reduction


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """``loss`` as is ('none'), its mean ('mean') or its sum ('sum')."""
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss


def weight_reduce_loss(loss: Tensor, weight: Optional[Tensor] = None, reduction: str = 'mean',
                       avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Multiply elementwise ``loss`` by ``weight`` (broadcast) and reduce it.

    Without ``avg_factor``: 'none' / mean over all elements / sum. With
    ``avg_factor``: 'mean' is ``sum / (avg_factor + eps)`` with ``eps`` the
    float32 machine epsilon (so an avg_factor of 0 gives 0, not NaN); 'none'
    returns the weighted loss; 'sum' is an error.
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'mean':
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum": '
                         'use reduction="mean" to divide the sum by avg_factor')
    return loss


class WeightedLoss(nn.Module):
    """Base of the loss modules: ``loss_weight`` and a validated ``reduction``."""

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = check_reduction(type(self).__name__, reduction)
        self.loss_weight = loss_weight

    def resolve_reduction(self, reduction_override: Optional[str]) -> str:
        """The reduction for one call: ``reduction_override`` if given, else the default."""
        if reduction_override is None:
            return self.reduction
        return check_reduction(type(self).__name__, reduction_override, 'reduction_override')

    def extra_repr(self) -> str:
        return f'reduction={self.reduction!r}, loss_weight={self.loss_weight}'
