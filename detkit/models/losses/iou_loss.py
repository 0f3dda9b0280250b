"""IoU loss (Yu et al., "UnitBox", 2016) on xyxy boxes, as FCOS uses it."""
from typing import Optional, Union

from torch import Tensor

from detkit.registry import MODELS
from detkit.structures.bbox import aligned_iou
from .utils import WeightedLoss, weight_reduce_loss

IOU_LOSS_MODES = ('linear', 'square', 'log')


def iou_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
             mode: str = 'log', eps: float = 1e-6, reduction: str = 'mean',
             avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """IoU loss per box pair: ``-log(IoU)`` ('log'), ``1 - IoU`` ('linear') or ``1 - IoU**2``.

    The IoU is floored at ``eps`` first, so disjoint pairs give
    ``-log(eps)`` in 'log' mode rather than infinity.

    Args:
        pred, target: ``[n, 4]`` xyxy boxes.
        weight: ``[n]``, or ``[n, 4]`` which is averaged over the last dim.
        mode: 'log', 'linear' or 'square'.
        reduction, avg_factor: see :func:`weight_reduce_loss`.
    """
    if pred.shape != target.shape or pred.size(-1) != 4:
        raise ValueError(f'iou_loss expects pred and target of one shape [n, 4], got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')
    if pred.numel() == 0:
        return pred.sum() * 0
    if weight is not None and weight.dim() == pred.dim():
        weight = weight.mean(-1)
    ious = aligned_iou(pred, target, eps).clamp(min=eps)
    if mode == 'linear':
        loss = 1 - ious
    elif mode == 'square':
        loss = 1 - ious.square()
    else:
        loss = -ious.log()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class IoULoss(WeightedLoss):
    """:func:`iou_loss` as a module, for regressing decoded boxes (FCOS).

    Args:
        linear: MMDetection's older switch for ``mode='linear'``; True
            overrides ``mode``.
        eps: floor of the union and of the IoU.
        reduction, loss_weight: as every loss.
        mode: 'log' (``-log IoU``), 'linear' (``1 - IoU``) or 'square' (``1 - IoU**2``).
    """

    def __init__(self, linear: bool = False, eps: float = 1e-6, reduction: str = 'mean',
                 loss_weight: float = 1.0, mode: str = 'log') -> None:
        if mode not in IOU_LOSS_MODES:
            raise ValueError(f'IoULoss mode must be one of {IOU_LOSS_MODES}, got {mode!r}')
        super().__init__(reduction, loss_weight)
        self.mode = 'linear' if linear else mode
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of boxes ``pred [n, 4]`` against ``target [n, 4]`` (xyxy)."""
        return self.loss_weight * iou_loss(
            pred, target, weight, self.mode, self.eps,
            reduction=self.resolve_reduction(reduction_override), avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}, eps={self.eps}, ' + super().extra_repr()
