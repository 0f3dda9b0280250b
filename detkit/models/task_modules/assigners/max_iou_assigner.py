"""IoU-threshold assignment of priors to gt boxes, for a whole batch at once."""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from detkit.registry import TASK_UTILS
from .batch_assigner import BatchAssigner


def gt_prior_ious(gt_bboxes: Tensor, priors: Tensor, eps: float = 1e-6) -> Tensor:
    """IoU ``[B, G, N]`` of gts ``[B, G, 4]`` with the priors ``[N, 4]`` all images share.

    ``bbox_overlaps(gt_bboxes, priors[None])``'s numbers, bit for bit (the
    same operations in the same order), worked out one coordinate at a time
    so that every operation runs along the contiguous prior axis: 3-4× faster
    with many gts.
    """
    px1, py1, px2, py2 = (c.contiguous() for c in priors.unbind(-1))  # [N]
    gx1, gy1, gx2, gy2 = (c.unsqueeze(-1) for c in gt_bboxes.unbind(-1))  # [B, G, 1]
    prior_area = (px2 - px1) * (py2 - py1)
    gt_area = (gx2 - gx1) * (gy2 - gy1)
    # three [B, G, N] buffers in all, each written in place
    low = torch.maximum(gx1, px1)
    overlap = torch.minimum(gx2, px2).sub_(low).clamp_(min=0)
    torch.maximum(gy1, py1, out=low)
    height = torch.minimum(gy2, py2).sub_(low).clamp_(min=0)
    overlap.mul_(height)
    union = torch.add(gt_area, prior_area, out=height).sub_(overlap).clamp_(min=eps)
    return overlap.div_(union)


@TASK_UTILS.register_module()
class MaxIoUAssigner(BatchAssigner):
    """Assign each prior to the gt it overlaps most, by IoU thresholds.

    MMDetection's rules, per image: a prior whose best IoU is below
    ``neg_iou_thr`` (or in ``[lo, hi)`` for a pair) is negative (0); at least
    ``pos_iou_thr`` is positive (its best gt); in between it is ignored (-1).
    Then, with ``match_low_quality``, each gt in order whose best IoU is at
    least ``min_pos_iou`` also takes every prior with exactly that IoU
    (``gt_max_assign_all``) or only its first best prior; later gts win.
    With ``ignore_iof_thr > 0``, priors covered by an ignore region by more
    than that IoF get an IoU of -1 to every gt before the steps above.
    Called as every assigner, once for the whole batch
    (:meth:`BatchAssigner.assign`).

    Args:
        pos_iou_thr: IoU at or above which a prior is positive.
        neg_iou_thr: IoU below which a prior is negative, or a ``(lo, hi)`` pair.
        min_pos_iou: least IoU for a low-quality match.
        gt_max_assign_all: give a gt every prior that ties its best IoU.
        ignore_iof_thr: IoF with an ignore region above which a prior is
            ignored; ``<= 0`` turns ignore regions off.
        ignore_wrt_candidates: IoF relative to the prior's area (True) or to
            the ignore region's area (False).
        match_low_quality: run the low-quality step.
    """

    def __init__(self, pos_iou_thr: float, neg_iou_thr: Union[float, Tuple[float, float]],
                 min_pos_iou: float = 0., gt_max_assign_all: bool = True,
                 ignore_iof_thr: float = -1, ignore_wrt_candidates: bool = True,
                 match_low_quality: bool = True) -> None:
        if isinstance(neg_iou_thr, (tuple, list)):
            if len(neg_iou_thr) != 2 or neg_iou_thr[0] > neg_iou_thr[1]:
                raise ValueError(f'MaxIoUAssigner neg_iou_thr must be a number or a (lo, hi) '
                                 f'pair with lo <= hi, got {neg_iou_thr!r}')
            neg_range = (float(neg_iou_thr[0]), float(neg_iou_thr[1]))
        else:
            neg_range = (0., float(neg_iou_thr))
        if pos_iou_thr < neg_range[1]:
            raise ValueError(f'MaxIoUAssigner pos_iou_thr ({pos_iou_thr}) must not be below '
                             f'neg_iou_thr ({neg_iou_thr})')
        self.pos_iou_thr = pos_iou_thr
        self.neg_iou_thr = neg_iou_thr
        self.neg_range = neg_range
        self.min_pos_iou = min_pos_iou
        self.gt_max_assign_all = gt_max_assign_all
        self.ignore_iof_thr = ignore_iof_thr
        self.ignore_wrt_candidates = ignore_wrt_candidates
        self.match_low_quality = match_low_quality

    def _assign(self, priors: Tensor, num_level_priors: Sequence[int], gt_bboxes: Tensor,
                gt_valid: Tensor, prior_valid: Tensor,
                ignored: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """The IoU-threshold rule; see :meth:`BatchAssigner._assign`.

        ``num_level_priors`` is not used: the thresholds do not depend on the level.
        """
        overlaps = gt_prior_ious(gt_bboxes, priors)  # [B, G, N]
        if ignored is not None:
            overlaps.masked_fill_(ignored[:, None, :], -1)
        # padded gts and invalid priors must not win any max below
        overlaps.masked_fill_(~gt_valid[:, :, None], float('-inf'))
        overlaps.masked_fill_(~prior_valid[:, None, :], float('-inf'))
        max_overlaps, argmax_overlaps = overlaps.max(dim=1)  # [B, N]

        lo, hi = self.neg_range
        gt_inds = torch.where((max_overlaps >= lo) & (max_overlaps < hi), 0, -1)
        pos = max_overlaps >= self.pos_iou_thr
        gt_inds = torch.where(pos, argmax_overlaps + 1, gt_inds)
        if self.match_low_quality:
            low_quality = self._low_quality_matches(overlaps, gt_valid)
            gt_inds = torch.where(low_quality > 0, low_quality, gt_inds)
        return gt_inds, max_overlaps

    def _low_quality_matches(self, overlaps: Tensor, gt_valid: Tensor) -> Tensor:
        """``[B, N]`` 1-based gt index each prior gets from the low-quality step, else 0.

        Vectorises MMDetection's loop over gts in order: where several gts
        claim a prior the last one wins, i.e. the largest index. Fixed shapes
        throughout (no ``nonzero``), so no host synchronisation.
        """
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=2)  # [B, G]
        eligible = gt_valid & (gt_max_overlaps >= self.min_pos_iou)
        num_gts_max = overlaps.size(1)
        if self.gt_max_assign_all:
            # an ineligible gt's best IoU becomes +inf, which no prior ties; the largest
            # tying gt index per prior, in int16 where it fits, keeps the [B, G, N] pass light
            best = torch.where(eligible, gt_max_overlaps, float('inf'))
            gt_index = torch.arange(1, num_gts_max + 1, device=overlaps.device,
                                    dtype=torch.int16 if num_gts_max < 2 ** 15 else torch.int32)
            ties = overlaps == best[:, :, None]
            return torch.where(ties, gt_index[:, None], 0).amax(dim=1).long()
        gt_index = torch.arange(1, num_gts_max + 1, device=overlaps.device, dtype=torch.long)
        claims = torch.where(eligible, gt_index[None, :], 0)
        winners = torch.zeros(overlaps.size(0), overlaps.size(2), dtype=torch.long,
                              device=overlaps.device)
        return winners.scatter_reduce(1, gt_argmax_overlaps, claims, reduce='amax')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(pos_iou_thr={self.pos_iou_thr}, '
                f'neg_iou_thr={self.neg_iou_thr}, min_pos_iou={self.min_pos_iou}, '
                f'gt_max_assign_all={self.gt_max_assign_all}, '
                f'ignore_iof_thr={self.ignore_iof_thr}, '
                f'ignore_wrt_candidates={self.ignore_wrt_candidates}, '
                f'match_low_quality={self.match_low_quality})')
