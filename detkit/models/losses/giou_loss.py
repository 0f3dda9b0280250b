"""Generalised IoU loss (Rezatofighi et al., CVPR 2019) on xyxy boxes."""
from typing import Optional, Union

import torch
from torch import Tensor

from detkit.registry import MODELS
from detkit.structures.bbox import aligned_overlap_and_union
from .utils import WeightedLoss, weight_reduce_loss


def aligned_giou(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """GIoU of each pair ``pred[i]``, ``target[i]`` (``[..., 4]`` xyxy) -> ``[...]``.

    Union and enclosing area are floored at ``eps``, as MMDetection does.
    """
    overlap, union = aligned_overlap_and_union(pred, target, eps)
    enclose_wh = (torch.max(pred[..., 2:], target[..., 2:])
                  - torch.min(pred[..., :2], target[..., :2])).clamp(min=0)
    enclose_area = (enclose_wh[..., 0] * enclose_wh[..., 1]).clamp(min=eps)
    return overlap / union - (enclose_area - union) / enclose_area


def giou_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
              eps: float = 1e-6, reduction: str = 'mean',
              avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """``1 - GIoU(pred, target)`` per box pair, weighted and reduced.

    Args:
        pred, target: ``[n, 4]`` xyxy boxes.
        weight: ``[n]``, or ``[n, 4]`` which is averaged over the last dim.
    """
    if pred.shape != target.shape or pred.size(-1) != 4:
        raise ValueError(f'giou_loss expects pred and target of one shape [n, 4], got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')
    if pred.numel() == 0:
        return pred.sum() * 0
    if weight is not None and weight.dim() == pred.dim():
        weight = weight.mean(-1)
    loss = 1 - aligned_giou(pred, target, eps)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class GIoULoss(WeightedLoss):
    """:func:`giou_loss` as a module, for regressing decoded boxes.

    Args:
        eps: floor of union and enclosing area.
        reduction, loss_weight: as every loss.
    """

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of boxes ``pred [n, 4]`` against ``target [n, 4]`` (xyxy)."""
        return self.loss_weight * giou_loss(
            pred, target, weight, self.eps,
            reduction=self.resolve_reduction(reduction_override), avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return f'eps={self.eps}, ' + super().extra_repr()
