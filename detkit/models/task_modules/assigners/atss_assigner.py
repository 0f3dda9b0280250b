"""Adaptive Training Sample Selection (Zhang et al., CVPR 2020), for a whole batch at once."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from detkit.registry import TASK_UTILS
from .batch_assigner import BatchAssigner
from .max_iou_assigner import gt_prior_ious

#: MMDetection's marker for "no positive IoU": ``max_overlaps`` of every
#: prior that is not positive, and the distance of priors in ignore regions
INF = 100000000.0


def centre_distances(gt_bboxes: Tensor, priors: Tensor) -> Tensor:
    """Distance ``[B, G, N]`` between the centres of gts ``[B, G, 4]`` and priors ``[N, 4]``.

    Boxes are xyxy; the same float32 operations as MMDetection, so the
    numbers (and so the top-k order) agree bit for bit.
    """
    prior_cx = ((priors[:, 0] + priors[:, 2]) / 2.0).contiguous()
    prior_cy = ((priors[:, 1] + priors[:, 3]) / 2.0).contiguous()
    gt_cx = ((gt_bboxes[..., 0] + gt_bboxes[..., 2]) / 2.0).unsqueeze(-1)  # [B, G, 1]
    gt_cy = ((gt_bboxes[..., 1] + gt_bboxes[..., 3]) / 2.0).unsqueeze(-1)
    dist = (prior_cx - gt_cx).square_()
    return dist.add_((prior_cy - gt_cy).square_()).sqrt_()


@TASK_UTILS.register_module()
class ATSSAssigner(BatchAssigner):
    """Positives from the statistics of each gt's closest priors (MMDetection's ATSSAssigner).

    Per image and gt: on every level the ``topk`` priors whose centres are
    closest to the gt's centre are candidates (all of a level's valid priors
    if it has fewer); the IoU threshold is the mean plus the (unbiased)
    standard deviation of the candidates' IoUs; a candidate is positive if
    its IoU reaches the threshold and its centre lies more than 0.01 px
    inside the gt. A prior positive for several gts goes to the one it
    overlaps most (the first of equal IoUs). Everything else is negative,
    except priors covered by an ignore region (``ignore_iof_thr > 0``, IoF
    relative to the prior's area), which are ignored unless positive.
    Called as every assigner, once for the whole batch
    (:meth:`BatchAssigner.assign`); invalid priors are never candidates.

    Args:
        topk: candidates per level and gt.
        ignore_iof_thr: IoF with an ignore region above which a prior is
            ignored; ``<= 0`` turns ignore regions off.
    """

    def __init__(self, topk: int = 9, ignore_iof_thr: float = -1) -> None:
        if int(topk) != topk or topk < 1:
            raise ValueError(f'ATSSAssigner topk must be a positive integer, got {topk!r}')
        self.topk = int(topk)
        self.ignore_iof_thr = ignore_iof_thr

    def _assign(self, priors: Tensor, num_level_priors: Sequence[int], gt_bboxes: Tensor,
                gt_valid: Tensor, prior_valid: Tensor,
                ignored: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """ATSS's rule; see :meth:`BatchAssigner._assign`.

        ``max_overlaps`` is, as in MMDetection, the IoU with the assigned gt
        for positives and ``-INF`` (-1e8) for every other valid prior of an
        image with gts.
        """
        distances = centre_distances(gt_bboxes, priors)  # [B, G, N]
        if ignored is not None:
            # ignored priors stay candidates, but only after every other prior
            distances.masked_fill_(ignored[:, None, :], INF)
        distances.masked_fill_(~prior_valid[:, None, :], float('inf'))
        candidates, candidate_valid = self.select_candidates(distances, num_level_priors)
        del distances

        overlaps = gt_prior_ious(gt_bboxes, priors)  # [B, G, N]
        candidate_ious = overlaps.gather(2, candidates)  # [B, G, C]
        threshold = self.iou_thresholds(candidate_ious, candidate_valid)  # [B, G]
        is_pos = (candidate_ious >= threshold[..., None]) & candidate_valid
        is_pos &= self._centres_inside(priors, candidates, gt_bboxes) & gt_valid[..., None]

        # every (gt, prior) pair that is not positive gets -INF; a prior then
        # goes to its best positive gt. Candidates of one gt are distinct priors,
        # so the scatter writes each place at most once.
        pos_ious = overlaps.fill_(-INF).scatter_(
            2, candidates, torch.where(is_pos, candidate_ious, -INF))
        max_overlaps, argmax = pos_ious.max(dim=1)  # [B, N]
        background = torch.zeros_like(argmax) if ignored is None else -ignored.long()
        return torch.where(max_overlaps != -INF, argmax + 1, background), max_overlaps

    def select_candidates(self, distances: Tensor,
                          num_level_priors: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """Per level, the ``topk`` priors closest to each gt.

        Args:
            distances: ``[B, G, N]`` centre distances, ``inf`` for invalid priors.
            num_level_priors: priors per level, summing to ``N``.

        Returns:
            ``candidates [B, G, C]`` prior indices into ``N``, level blocks of
            ``min(topk, N_l)`` in order, and ``valid [B, G, C]`` bool, False for
            places a level with fewer valid priors than ``topk`` fills with
            invalid ones.
        """
        indices, values = [], []
        start = 0
        for level_size in num_level_priors:
            level = distances[..., start:start + level_size]
            k = min(self.topk, level_size)
            value, index = level.topk(k, dim=-1, largest=False)
            indices.append(index + start)
            values.append(value)
            start += level_size
        return torch.cat(indices, dim=-1), torch.cat(values, dim=-1).isfinite()

    @staticmethod
    def iou_thresholds(candidate_ious: Tensor, candidate_valid: Tensor) -> Tensor:
        """``[B, G]`` mean + unbiased std of the valid candidates' IoUs ``[B, G, C]``.

        NaN (no positives) for a gt with a single candidate, as ``torch.std``.
        """
        valid = candidate_valid.to(candidate_ious.dtype)
        count = valid.sum(-1)
        mean = (candidate_ious * valid).sum(-1) / count
        spread = (candidate_ious - mean[..., None]).square() * valid
        return mean + (spread.sum(-1) / (count - 1)).sqrt()

    @staticmethod
    def _centres_inside(priors: Tensor, candidates: Tensor, gt_bboxes: Tensor) -> Tensor:
        """``[B, G, C]`` bool: the candidate prior's centre is more than 0.01 px inside its gt."""
        cx = ((priors[:, 0] + priors[:, 2]) / 2.0)[candidates]  # [B, G, C]
        cy = ((priors[:, 1] + priors[:, 3]) / 2.0)[candidates]
        x1, y1, x2, y2 = (c.unsqueeze(-1) for c in gt_bboxes.unbind(-1))
        inside = torch.stack([cx - x1, cy - y1, x2 - cx, y2 - cy], dim=-1).amin(dim=-1)
        return inside > 0.01

    def __repr__(self) -> str:
        return f'{type(self).__name__}(topk={self.topk}, ignore_iof_thr={self.ignore_iof_thr})'
