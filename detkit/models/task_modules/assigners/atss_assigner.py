"""Adaptive Training Sample Selection (Zhang et al., CVPR 2020), for a whole batch at once."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from detkit.registry import TASK_UTILS
from detkit.structures.bbox import aligned_iou
from .batch_assigner import BatchAssigner

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
        candidates, candidate_valid = self.select_candidates(
            priors, num_level_priors, gt_bboxes, prior_valid, ignored)  # [B, G, C]
        # only the candidates' IoUs matter; the same float32 operations as
        # MMDetection's IoU matrix, so the same bits
        candidate_ious = aligned_iou(priors[candidates], gt_bboxes[:, :, None, :])
        threshold = self.iou_thresholds(candidate_ious, candidate_valid)  # [B, G]
        is_pos = (candidate_ious >= threshold[..., None]) & candidate_valid
        is_pos &= self._centres_inside(priors, candidates, gt_bboxes) & gt_valid[..., None]
        gt_inds, max_overlaps = self._best_positive_gt(candidates, candidate_ious, is_pos,
                                                       priors.size(0))
        if ignored is not None:
            gt_inds = torch.where(ignored & (gt_inds == 0), -1, gt_inds)
        return gt_inds, max_overlaps

    def select_candidates(self, priors: Tensor, num_level_priors: Sequence[int],
                          gt_bboxes: Tensor, prior_valid: Optional[Tensor] = None,
                          ignored: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Per level, the ``topk`` priors whose centres are closest to each gt's centre.

        Args:
            priors: ``[N, 4]`` xyxy, levels concatenated.
            num_level_priors: priors per level, summing to ``N``.
            gt_bboxes: ``[B, G, 4]`` xyxy.
            prior_valid: ``[B, N]`` bool; invalid priors are never candidates.
            ignored: ``[B, N]`` bool; priors in ignore regions are candidates
                only after every other prior (MMDetection's distance ``INF``).

        Returns:
            ``candidates [B, G, C]`` prior indices into ``N``, level blocks of
            ``min(topk, N_l)`` in order, and ``valid [B, G, C]`` bool, False for
            places a level with fewer valid priors than ``topk`` fills with
            invalid ones.
        """
        indices, valid = [], []
        start = 0
        for level_size in num_level_priors:
            end = start + level_size
            # one level at a time: a [B, G, N_l] distance block, never [B, G, N]
            distances = centre_distances(gt_bboxes, priors[start:end])
            if ignored is not None:
                distances.masked_fill_(ignored[:, None, start:end], INF)
            if prior_valid is not None:
                distances.masked_fill_(~prior_valid[:, None, start:end], float('inf'))
            value, index = distances.topk(min(self.topk, level_size), dim=-1, largest=False)
            indices.append(index + start)
            valid.append(value.isfinite())
            start = end
        return torch.cat(indices, dim=-1), torch.cat(valid, dim=-1)

    @staticmethod
    def _best_positive_gt(candidates: Tensor, candidate_ious: Tensor, is_pos: Tensor,
                          num_priors: int) -> Tuple[Tensor, Tensor]:
        """Each prior's gt among those it is a positive candidate of: the highest IoU wins,
        the first gt among equal IoUs (MMDetection's max over gts).

        Args:
            candidates, candidate_ious, is_pos: ``[B, G, C]``.
            num_priors: ``N``.

        Returns:
            ``gt_inds [B, N]`` (``k + 1`` for gt ``k``, 0 for no positive) and
            ``max_overlaps [B, N]`` (the winner's IoU, ``-INF`` for no positive).
        """
        num_imgs, num_gts = candidates.shape[:2]
        prior = candidates.reshape(num_imgs, -1)  # [B, G * C]
        ious = torch.where(is_pos, candidate_ious, -INF).reshape(num_imgs, -1)
        max_overlaps = ious.new_full((num_imgs, num_priors), -INF)
        max_overlaps.scatter_reduce_(1, prior, ious, reduce='amax')
        gt = torch.arange(num_gts, device=prior.device)[None, :, None].expand_as(candidates)
        is_best = is_pos.reshape(num_imgs, -1) & (ious == max_overlaps.gather(1, prior))
        winner = torch.full((num_imgs, num_priors), num_gts, dtype=torch.long,
                            device=prior.device)
        winner.scatter_reduce_(1, prior, torch.where(is_best, gt.reshape(num_imgs, -1), num_gts),
                               reduce='amin')
        return torch.where(winner < num_gts, winner + 1, 0), max_overlaps

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
