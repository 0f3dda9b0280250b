"""Training targets of a dense head for a whole batch, in fixed shapes."""
from dataclasses import dataclass
from typing import List

import torch
from torch import Tensor

from detkit.models.task_modules.assigners.assign_result import AssignResult


@dataclass
class DenseTargets:
    """What every prior of every image should predict; all tensors ``[B, N, ...]``.

    The shapes depend only on the batch size and the priors, never on how
    many priors turned out positive, so building and using the targets needs
    no device-to-host synchronisation (positives are a mask, not indices).

    Attributes:
        priors: ``[N, 4]`` xyxy anchors (or ``[N, 2]`` points), all levels.
        level_sizes: priors per level; they sum to ``N``.
        labels: ``[B, N]`` int64 class in ``[0, K]``, ``K`` = background
            (also where the weight is 0).
        label_weights: ``[B, N]`` float weight of the classification loss
            (0 for ignored and invalid priors).
        pos_mask: ``[B, N]`` bool, the positives.
        gt_inds: ``[B, N]`` int64 index of the matched gt in the padded
            ``[B, G]`` gts (0 where not positive).
        bbox_targets: ``[B, N, 4]`` xyxy matched gt box of each positive;
            elsewhere the prior's own box (so encoding it stays finite).
        avg_factor: scalar float tensor ``Σ_i max(#pos_i, 1)``, the loss
            normaliser (MMDetection's).
    """

    priors: Tensor
    level_sizes: List[int]
    labels: Tensor
    label_weights: Tensor
    pos_mask: Tensor
    gt_inds: Tensor
    bbox_targets: Tensor
    avg_factor: Tensor

    @classmethod
    def from_assignment(cls, assigned: AssignResult, priors: Tensor, level_sizes: List[int],
                        gt_bboxes: Tensor, num_classes: int) -> 'DenseTargets':
        """Targets of an assignment of ``priors [N, 4]`` to padded gts ``[B, G, 4]``."""
        pos_mask = assigned.gt_inds > 0
        gt_inds = (assigned.gt_inds - 1).clamp(min=0)
        labels = torch.where(pos_mask, assigned.labels, num_classes)
        label_weights = (assigned.gt_inds >= 0).to(priors.dtype)
        if gt_bboxes.size(1):
            matched = gt_bboxes.gather(1, gt_inds.unsqueeze(-1).expand(-1, -1, 4))
            bbox_targets = torch.where(pos_mask.unsqueeze(-1), matched, priors)
        else:
            bbox_targets = priors.expand(len(gt_bboxes), -1, -1)
        avg_factor = pos_mask.sum(dim=1).clamp(min=1).sum().to(priors.dtype)
        return cls(priors=priors, level_sizes=list(level_sizes), labels=labels,
                   label_weights=label_weights, pos_mask=pos_mask, gt_inds=gt_inds,
                   bbox_targets=bbox_targets, avg_factor=avg_factor)
