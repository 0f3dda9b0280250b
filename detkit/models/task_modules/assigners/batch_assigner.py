"""What every batched assigner shares: input checks, masks, ignore regions, the result."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from detkit.structures import bbox_overlaps
from .assign_result import AssignResult


class BatchAssigner:
    """Base of the assigners that assign the priors of a whole batch in one call.

    :meth:`assign` checks the inputs, fills in the default masks, finds the
    priors covered by ignore regions and turns the subclass's decision
    (:meth:`_assign`) into an :class:`AssignResult`: images without gts get
    all-negative rows, invalid priors ``gt_inds`` -1, positives their gt's
    label. Subclasses set ``ignore_iof_thr`` (and may set
    ``ignore_wrt_candidates``).
    """

    ignore_iof_thr: float = -1
    #: IoF of an ignore region relative to the prior's area (True) or the region's
    ignore_wrt_candidates: bool = True

    def assign(self, priors: Tensor, num_level_priors: Sequence[int], gt_bboxes: Tensor,
               gt_labels: Tensor, gt_valid: Tensor, prior_valid: Optional[Tensor] = None,
               ignore_bboxes: Optional[Tensor] = None,
               ignore_valid: Optional[Tensor] = None) -> AssignResult:
        """Assign the priors shared by a batch to each image's gts.

        Args:
            priors: ``[N, 4]`` xyxy, shared by all images, levels concatenated.
            num_level_priors: priors per level, summing to ``N``.
            gt_bboxes: ``[B, G, 4]`` xyxy, padded to the largest image's ``G``.
            gt_labels: ``[B, G]`` int64.
            gt_valid: ``[B, G]`` bool, False for padding.
            prior_valid: ``[B, N]`` bool; invalid priors take no part (as if
                removed) and get ``gt_inds`` -1. Default: all valid.
            ignore_bboxes: ``[B, I, 4]`` xyxy ignore regions (e.g. COCO crowd boxes).
            ignore_valid: ``[B, I]`` bool, False for padding. Default: all valid.

        Returns:
            :class:`AssignResult` with ``[B, N]`` fields.
        """
        self._check_inputs(priors, num_level_priors, gt_bboxes, gt_labels, gt_valid,
                           prior_valid)
        num_imgs, num_gts_max = gt_bboxes.shape[:2]
        num_priors = priors.size(0)
        gt_valid = gt_valid.bool()
        num_gts = gt_valid.sum(dim=1)
        if prior_valid is None:
            prior_valid = torch.ones(num_imgs, num_priors, dtype=torch.bool,
                                     device=priors.device)
        prior_valid = prior_valid.bool()
        if num_gts_max == 0 or num_priors == 0:
            gt_inds = torch.zeros(num_imgs, num_priors, dtype=torch.long, device=priors.device)
            return AssignResult(gt_inds=gt_inds.masked_fill(~prior_valid, -1),
                                max_overlaps=priors.new_zeros(num_imgs, num_priors),
                                labels=torch.full_like(gt_inds, -1), num_gts=num_gts)
        ignored = self._ignored_priors(priors, ignore_bboxes, ignore_valid)
        gt_inds, max_overlaps = self._assign(priors, num_level_priors, gt_bboxes, gt_valid,
                                             prior_valid, ignored)
        has_gt = (num_gts > 0)[:, None]
        gt_inds = torch.where(has_gt, gt_inds, 0).masked_fill(~prior_valid, -1)
        max_overlaps = torch.where(has_gt & prior_valid, max_overlaps, 0)
        labels = gt_labels.long().gather(1, (gt_inds - 1).clamp(min=0))
        labels = torch.where(gt_inds > 0, labels, -1)
        return AssignResult(gt_inds=gt_inds, max_overlaps=max_overlaps, labels=labels,
                            num_gts=num_gts)

    def _assign(self, priors: Tensor, num_level_priors: Sequence[int], gt_bboxes: Tensor,
                gt_valid: Tensor, prior_valid: Tensor,
                ignored: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """The assigner's rule for a batch with at least one gt slot and one prior.

        Args:
            priors, num_level_priors, gt_bboxes: as :meth:`assign`.
            gt_valid: ``[B, G]`` bool.
            prior_valid: ``[B, N]`` bool.
            ignored: ``[B, N]`` bool priors in ignore regions, or None.

        Returns:
            ``gt_inds [B, N]`` int64 (0 negative, -1 ignored, ``k > 0`` gt ``k - 1``)
            and ``max_overlaps [B, N]``; rows of images without gts and
            columns of invalid priors are overwritten by :meth:`assign`.
        """
        raise NotImplementedError

    def _ignored_priors(self, priors: Tensor, ignore_bboxes: Optional[Tensor],
                        ignore_valid: Optional[Tensor]) -> Optional[Tensor]:
        """``[B, N]`` bool: priors covered by an ignore region by more than ``ignore_iof_thr``."""
        if self.ignore_iof_thr <= 0 or ignore_bboxes is None or ignore_bboxes.size(1) == 0:
            return None
        if self.ignore_wrt_candidates:
            iof = bbox_overlaps(priors[None], ignore_bboxes, mode='iof')  # [B, N, I]
        else:
            iof = bbox_overlaps(ignore_bboxes, priors[None], mode='iof').transpose(1, 2)
        if ignore_valid is not None:
            iof = iof.masked_fill(~ignore_valid.bool()[:, None, :], -1)
        return iof.amax(dim=2) > self.ignore_iof_thr

    def _check_inputs(self, priors: Tensor, num_level_priors: Sequence[int], gt_bboxes: Tensor,
                      gt_labels: Tensor, gt_valid: Tensor, prior_valid: Optional[Tensor]) -> None:
        owner = f'{type(self).__name__}.assign'
        if priors.dim() != 2 or gt_bboxes.dim() != 3:
            raise ValueError(f'{owner} expects priors [N, 4] and gt_bboxes [B, G, 4], got '
                             f'{tuple(priors.shape)} and {tuple(gt_bboxes.shape)}')
        if sum(num_level_priors) != priors.size(0):
            raise ValueError(f'{owner}: num_level_priors {list(num_level_priors)} sum to '
                             f'{sum(num_level_priors)}, but there are {priors.size(0)} priors')
        if gt_labels.shape != gt_bboxes.shape[:2] or gt_valid.shape != gt_bboxes.shape[:2]:
            raise ValueError(f'{owner} expects gt_labels and gt_valid of shape '
                             f'{tuple(gt_bboxes.shape[:2])}, got {tuple(gt_labels.shape)} and '
                             f'{tuple(gt_valid.shape)}')
        expected = (gt_bboxes.size(0), priors.size(0))
        if prior_valid is not None and tuple(prior_valid.shape) != expected:
            raise ValueError(f'{owner} expects prior_valid of shape {expected}, '
                             f'got {tuple(prior_valid.shape)}')
