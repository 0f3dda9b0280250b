"""Distribution focal loss (Li et al., "Generalized Focal Loss", NeurIPS 2020)."""
from typing import Optional, Union

import torch.nn.functional as F
from torch import Tensor

from detkit.registry import MODELS
from .utils import WeightedLoss, weight_reduce_loss


def distribution_focal_loss(pred: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                            reduction: str = 'mean',
                            avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Cross-entropy towards the two bins around a continuous target, weighted by nearness.

    For a target ``y`` between bins ``i = floor(y)`` and ``i + 1``:
    ``CE(x, i) * (i + 1 - y) + CE(x, i + 1) * (y - i)``, which is smallest
    when the distribution puts its mass on those two bins in that proportion.

    Args:
        pred: ``[N, n + 1]`` logits over the bins ``0 .. n`` (``n = reg_max``).
        label: ``[N]`` float targets in ``[0, n)`` (GFL clamps to ``n - 0.1``).
        weight: ``[N]``.
        reduction, avg_factor: see :func:`weight_reduce_loss`.

    Returns:
        ``[N]`` for 'none', else a scalar.
    """
    if pred.dim() != 2 or label.shape != pred.shape[:1]:
        raise ValueError(f'distribution_focal_loss expects pred [N, n + 1] and label [N], got '
                         f'{tuple(pred.shape)} and {tuple(label.shape)}')
    label = label.type_as(pred)
    left = label.long()
    # a target of exactly n has no right bin; its right weight is 0, so any column does
    right = (left + 1).clamp(max=pred.size(1) - 1)
    log_prob = F.log_softmax(pred, dim=1)
    weight_left = (left + 1).to(pred) - label
    weight_right = label - left.to(pred)
    loss = -(log_prob.gather(1, left[:, None]).squeeze(1) * weight_left
             + log_prob.gather(1, right[:, None]).squeeze(1) * weight_right)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class DistributionFocalLoss(WeightedLoss):
    """:func:`distribution_focal_loss` as a module (GFL's box-side distributions).

    Args:
        reduction, loss_weight: as every loss.
    """

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of bin logits ``pred [N, n + 1]`` against distances ``target [N]`` in bins."""
        return self.loss_weight * distribution_focal_loss(
            pred, target, weight, reduction=self.resolve_reduction(reduction_override),
            avg_factor=avg_factor)
