"""L1 and smooth L1 (Huber-like) regression losses."""
from typing import Optional, Union

import torch
from torch import Tensor

from detkit.registry import MODELS
from .utils import WeightedLoss, weight_reduce_loss


def _reduce_elementwise(loss: Tensor, pred: Tensor, weight: Optional[Tensor],
                        reduction: str, avg_factor: Optional[Union[float, Tensor]]) -> Tensor:
    """Weight and reduce a ``[..., 4]`` elementwise loss; an empty input gives 0."""
    if pred.numel() == 0:
        # a batch without positives: 0 that still reaches pred in the graph
        return pred.sum() * 0
    if weight is not None and weight.dim() == loss.dim() - 1:
        weight = weight.unsqueeze(-1)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def _check_same_shape(owner: str, pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f'{owner} expects pred and target of one shape, got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')


def l1_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
            reduction: str = 'mean',
            avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """``|pred - target|`` elementwise, weighted and reduced.

    Args:
        pred, target: ``[n, 4]`` (any equal shapes).
        weight: same shape, or ``[n]`` for whole rows.
    """
    _check_same_shape('l1_loss', pred, target)
    return _reduce_elementwise(torch.abs(pred - target), pred, weight, reduction, avg_factor)


def smooth_l1_loss(pred: Tensor, target: Tensor, beta: float = 1.0,
                   weight: Optional[Tensor] = None, reduction: str = 'mean',
                   avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """``0.5 d^2 / beta`` if ``d < beta`` else ``d - 0.5 beta``, ``d = |pred - target|``.

    Args: as :func:`l1_loss`; ``beta > 0`` is where the quadratic part ends.
    """
    _check_same_shape('smooth_l1_loss', pred, target)
    diff = torch.abs(pred - target)
    loss = torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    return _reduce_elementwise(loss, pred, weight, reduction, avg_factor)


@MODELS.register_module()
class L1Loss(WeightedLoss):
    """:func:`l1_loss` as a module (``reduction``, ``loss_weight``)."""

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of ``pred [n, 4]`` against ``target [n, 4]``."""
        return self.loss_weight * l1_loss(
            pred, target, weight, reduction=self.resolve_reduction(reduction_override),
            avg_factor=avg_factor)


@MODELS.register_module()
class SmoothL1Loss(WeightedLoss):
    """:func:`smooth_l1_loss` as a module.

    Args:
        beta: end of the quadratic part, ``> 0`` (1/9 in the legacy RetinaNet
            configs, 1.0 by default).
        reduction, loss_weight: as every loss.
    """

    def __init__(self, beta: float = 1.0, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        if beta <= 0:
            raise ValueError(f'SmoothL1Loss beta must be > 0, got {beta}')
        super().__init__(reduction, loss_weight)
        self.beta = beta

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of ``pred [n, 4]`` against ``target [n, 4]``."""
        return self.loss_weight * smooth_l1_loss(
            pred, target, self.beta, weight,
            reduction=self.resolve_reduction(reduction_override), avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return f'beta={self.beta}, ' + super().extra_repr()
