"""The assigner's per-coordinate IoU is bbox_overlaps, bit for bit."""
import torch

from detkit.models.task_modules.assigners.max_iou_assigner import gt_prior_ious
from detkit.structures import bbox_overlaps


def test_gt_prior_ious_equals_bbox_overlaps_exactly():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(3, 7, 2, generator=gen) * 100
    gts = torch.cat([xy, xy + torch.rand(3, 7, 2, generator=gen) * 60], -1)
    gts[1, 2] = torch.tensor([10., 10., 10., 30.])  # zero area
    pxy = torch.rand(500, 2, generator=gen) * 120 - 10
    priors = torch.cat([pxy, pxy + torch.rand(500, 2, generator=gen) * 50], -1)
    assert torch.equal(gt_prior_ious(gts, priors), bbox_overlaps(gts, priors[None]))
