"""Softmax cross-entropy, sigmoid binary cross-entropy and mask cross-entropy."""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from detkit.registry import MODELS
from .utils import WeightedLoss, weight_reduce_loss

AvgFactor = Optional[Union[float, Tensor]]


def cross_entropy(pred: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                  reduction: str = 'mean', avg_factor: AvgFactor = None,
                  class_weight: Optional[Tensor] = None, ignore_index: int = -100,
                  avg_non_ignore: bool = False) -> Tensor:
    """Softmax cross-entropy of logits ``pred [N, C]`` and labels ``label [N]``.

    ``class_weight [C]`` scales each sample's loss by its class's weight but,
    as in MMDetection, 'mean' divides by the number of samples, not by the
    sum of class weights (unlike ``F.cross_entropy``). Samples labelled
    ``ignore_index`` contribute 0; with ``avg_non_ignore`` 'mean' divides by
    the number of the others instead of ``N``.
    """
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none',
                           ignore_index=ignore_index)
    if avg_factor is None and avg_non_ignore and reduction == 'mean':
        avg_factor = (label != ignore_index).sum()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def binary_cross_entropy(pred: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                         reduction: str = 'mean', avg_factor: AvgFactor = None,
                         class_weight: Optional[Tensor] = None, ignore_index: int = -100,
                         avg_non_ignore: bool = False) -> Tensor:
    """Sigmoid BCE of logits ``pred [N, C]`` against labels ``[N]`` or targets ``[N, C]``.

    Labels in ``[0, C)`` become one-hot rows, label ``C`` (background) an
    all-zero row; labels that are negative or ``ignore_index`` get weight 0.
    A per-sample ``weight [N]`` is spread over the classes. ``class_weight``
    is BCE's ``pos_weight``. With ``avg_non_ignore``, 'mean' divides by the
    number of non-ignored elements.
    """
    if pred.dim() != label.dim():
        num_classes = pred.size(-1)
        valid = (label >= 0) & (label != ignore_index)
        targets = torch.zeros_like(pred).scatter(
            1, label.long().clamp(0, num_classes - 1)[:, None],
            (valid & (label < num_classes))[:, None].to(pred.dtype))
        valid_mask = valid[:, None].expand_as(pred).float()
        weight = valid_mask if weight is None else weight.float()[:, None] * valid_mask
    else:
        targets = label.float()
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = valid_mask if weight is None else weight.float() * valid_mask
    if avg_factor is None and avg_non_ignore and reduction == 'mean':
        avg_factor = valid_mask.sum()
    loss = F.binary_cross_entropy_with_logits(pred, targets, pos_weight=class_weight,
                                              reduction='none')
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def mask_cross_entropy(pred: Tensor, target: Tensor, mask_labels: Tensor) -> Tensor:
    """Mean sigmoid BCE of each RoI's class channel: ``pred [N, C, H, W]``,
    ``target [N, H, W]`` in [0, 1], ``mask_labels [N]`` -> ``[1]``."""
    rois = torch.arange(pred.size(0), device=pred.device)
    return F.binary_cross_entropy_with_logits(pred[rois, mask_labels], target.float(),
                                              reduction='mean')[None]


@MODELS.register_module()
class CrossEntropyLoss(WeightedLoss):
    """Cross-entropy loss module: softmax (default), sigmoid or mask.

    Args:
        use_sigmoid: per-class sigmoid BCE (:func:`binary_cross_entropy`).
        use_mask: mask-head BCE (:func:`mask_cross_entropy`); needs
            ``mask_labels`` in :meth:`forward`.
        reduction, loss_weight: as every loss.
        class_weight: per-class weights, ``[C]``.
        ignore_index: label whose samples give no loss.
        avg_non_ignore: 'mean' over the non-ignored samples only.
    """

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False,
                 reduction: str = 'mean', class_weight: Optional[Sequence[float]] = None,
                 ignore_index: int = -100, loss_weight: float = 1.0,
                 avg_non_ignore: bool = False) -> None:
        if use_sigmoid and use_mask:
            raise ValueError('CrossEntropyLoss takes use_sigmoid or use_mask, not both')
        if use_mask and class_weight is not None:
            raise ValueError('CrossEntropyLoss class_weight is not supported with use_mask=True')
        super().__init__(reduction, loss_weight)
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.class_weight = None if class_weight is None else list(class_weight)
        self.ignore_index = ignore_index
        self.avg_non_ignore = avg_non_ignore

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: AvgFactor = None, reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = None,
                mask_labels: Optional[Tensor] = None) -> Tensor:
        """Loss of logits ``pred`` against ``target`` (labels, or masks with ``use_mask``).

        ``ignore_index`` overrides the constructor's for one call.
        """
        reduction = self.resolve_reduction(reduction_override)
        if self.use_mask:
            if mask_labels is None:
                raise ValueError('CrossEntropyLoss(use_mask=True) needs mask_labels [N], '
                                 'the class of each RoI')
            if reduction != 'mean' or avg_factor is not None or weight is not None:
                raise ValueError('CrossEntropyLoss(use_mask=True) supports only '
                                 'reduction="mean" without weight or avg_factor')
            return self.loss_weight * mask_cross_entropy(pred, target, mask_labels)
        class_weight = None if self.class_weight is None else pred.new_tensor(self.class_weight)
        loss_fn = binary_cross_entropy if self.use_sigmoid else cross_entropy
        return self.loss_weight * loss_fn(
            pred, target, weight, reduction=reduction, avg_factor=avg_factor,
            class_weight=class_weight,
            ignore_index=self.ignore_index if ignore_index is None else ignore_index,
            avg_non_ignore=self.avg_non_ignore)

    def extra_repr(self) -> str:
        return (f'use_sigmoid={self.use_sigmoid}, use_mask={self.use_mask}, '
                f'class_weight={self.class_weight}, ignore_index={self.ignore_index}, '
                f'avg_non_ignore={self.avg_non_ignore}, ' + super().extra_repr())
