"""The ATSS / GFL / FCOS parts never read a tensor's value back to the host.

On a GPU every such read (``.item()``, ``.tolist()``, ``nonzero``, ``if
tensor``) waits for the device; a loss path without them can run
asynchronously and inside a CUDA graph. On the CPU we make every read raise.
"""
import contextlib

import pytest
import torch

from detkit.models.layers import Integral
from detkit.models.losses import (DistributionFocalLoss, GIoULoss, IoULoss, QualityFocalLoss,
                                  soft_target_from_labels)
from detkit.models.task_modules import (AnchorGenerator, ATSSAssigner, DistancePointBBoxCoder,
                                        MlvlPointGenerator)
from detkit.structures.bbox import centerness_target


@contextlib.contextmanager
def no_host_reads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('a tensor value was read on the host')

    with monkeypatch.context() as patch:
        for name in ('item', 'tolist', 'nonzero', '__bool__', '__int__', '__float__', 'numpy'):
            patch.setattr(torch.Tensor, name, refuse)
        patch.setattr(torch, 'nonzero', refuse)
        yield


def test_the_guard_catches_reads(monkeypatch):
    with no_host_reads(monkeypatch), pytest.raises(AssertionError, match='read on the host'):
        bool(torch.ones(1) > 0)


def test_assignment_coding_and_losses_run_without_host_reads(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    sizes, levels = [(16, 16), (8, 8), (4, 4)], [256, 64, 16]
    anchors = torch.cat(AnchorGenerator([8, 16, 32], ratios=[1.0], scales=[8.]).grid_priors(sizes))
    points = torch.cat(MlvlPointGenerator([8, 16, 32]).grid_priors(sizes))
    xy = torch.rand(2, 4, 2, generator=gen) * 90
    gts = torch.cat([xy, xy + torch.rand(2, 4, 2, generator=gen) * 40 + 8], dim=-1)
    labels = torch.randint(0, 3, (2, 4), generator=gen)
    gt_valid = torch.tensor([[True, True, True, False], [True, False, False, False]])
    prior_valid = torch.ones(2, 336, dtype=torch.bool)
    logits = torch.randn(2 * 336, 3, generator=gen, requires_grad=True)
    dist_logits = torch.randn(2, 336, 4 * 17, generator=gen, requires_grad=True)
    with no_host_reads(monkeypatch):
        result = ATSSAssigner(topk=9, ignore_iof_thr=0.5).assign(
            anchors, levels, gts, labels, gt_valid, prior_valid,
            ignore_bboxes=gts[:, :1], ignore_valid=~gt_valid[:, :1])
        pos = result.gt_inds > 0  # [B, N], a mask: no indexing by it
        matched = gts.gather(1, (result.gt_inds - 1).clamp(min=0)[..., None].expand(-1, -1, 4))
        coder = DistancePointBBoxCoder()
        targets = coder.encode(points / 8, matched / 8, 16)
        decoded = coder.decode(points / 8, Integral(16)(dist_logits))
        iou_weight = pos.float()
        quality = soft_target_from_labels(result.labels.view(-1).clamp(min=0),
                                          iou_weight.view(-1), 3) * pos.view(-1, 1)
        num_pos = pos.sum().clamp(min=1)
        losses = [QualityFocalLoss()(logits, quality, avg_factor=num_pos),
                  DistributionFocalLoss()(dist_logits.reshape(-1, 17), targets.reshape(-1),
                                          iou_weight[..., None].expand(-1, -1, 4).reshape(-1),
                                          avg_factor=num_pos),
                  IoULoss()(decoded.view(-1, 4), matched.view(-1, 4) / 8, iou_weight.view(-1),
                            avg_factor=num_pos),
                  GIoULoss()(decoded.view(-1, 4), matched.view(-1, 4) / 8, iou_weight.view(-1),
                             avg_factor=num_pos)]
        centerness = centerness_target(coder.encode(points, matched)) * iou_weight
        sum(losses).backward()
    assert torch.isfinite(torch.stack(losses)).all() and torch.isfinite(centerness).all()
    assert int(pos.sum()) > 0 and logits.grad.abs().sum() > 0
