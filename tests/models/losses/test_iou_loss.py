import math

import pytest
import torch

from detkit.models.losses import IoULoss, aligned_iou, giou_loss, iou_loss
from detkit.registry import MODELS
from detkit.structures import bbox_overlaps

CLOSE = dict(rtol=1e-5, atol=1e-6)


def _boxes(n, seed):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 50
    return torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 30 + 1], dim=1)


def test_aligned_iou_is_the_diagonal_of_the_pairwise_iou():
    a, b = _boxes(40, 0), _boxes(40, 1)
    assert torch.equal(aligned_iou(a, b), bbox_overlaps(a, b).diagonal())
    batched = aligned_iou(a.view(4, 10, 4), b.view(4, 10, 4))
    assert torch.equal(batched.view(-1), aligned_iou(a, b))


@pytest.mark.parametrize('mode, fn', [('log', lambda u: -math.log(u)),
                                      ('linear', lambda u: 1 - u),
                                      ('square', lambda u: 1 - u * u)])
def test_modes_by_hand(mode, fn):
    pred = torch.tensor([[0., 0., 4., 4.], [0., 0., 2., 2.], [0., 0., 1., 1.]])
    target = torch.tensor([[1., 1., 3., 3.], [0., 0., 2., 2.], [5., 5., 6., 6.]])
    loss = MODELS.build(dict(type='IoULoss', mode=mode))
    # nested 4/16; identical; disjoint: IoU floored at eps = 1e-6
    expected = [fn(0.25), fn(1.0), fn(1e-6)]
    assert loss(pred, target, reduction_override='none').tolist() == \
        pytest.approx(expected, rel=1e-5)
    assert loss(pred, target).item() == pytest.approx(sum(expected) / 3, rel=1e-5)


def test_weights_avg_factor_loss_weight_and_linear_switch():
    pred, target = _boxes(30, 2), _boxes(30, 3)
    weight = torch.rand(30, generator=torch.Generator().manual_seed(4))
    plain = -aligned_iou(pred, target).clamp(min=1e-6).log()
    ours = IoULoss(loss_weight=2.)(pred, target, weight, avg_factor=7.5)
    assert ours.item() == pytest.approx(2 * (plain * weight).sum().item() / 7.5, rel=1e-5)
    weight4 = weight[:, None].expand(-1, 4)
    torch.testing.assert_close(IoULoss()(pred, target, weight4, avg_factor=7.5),
                               IoULoss()(pred, target, weight, avg_factor=7.5))
    assert IoULoss(linear=True).mode == 'linear'
    torch.testing.assert_close(IoULoss(linear=True)(pred, target),
                               IoULoss(mode='linear')(pred, target))
    empty = IoULoss()(torch.zeros(0, 4, requires_grad=True), torch.zeros(0, 4))
    assert empty.item() == 0 and empty.requires_grad


def test_matches_the_fcos_head_reference(load_ref):
    """FCOSHead's loss_bbox: IoULoss (log) of decoded positives, weighted by the centre-ness
    targets and averaged by their sum."""
    head = load_ref('fcos_head')
    targets = head['outputs']['targets']
    ours = IoULoss()(targets['pos_decoded_bbox_preds'], targets['pos_decoded_bbox_targets'],
                     torch.cat(targets['centerness_targets']),
                     avg_factor=targets['centerness_denorm'])
    torch.testing.assert_close(ours, head['outputs']['loss_total']['loss_bbox'], **CLOSE)
    assert ours.item() == pytest.approx(1.842312, rel=1e-6)


def test_giou_still_matches_its_own_formula():
    """GIoU shares the intersection and union with IoU."""
    pred, target = _boxes(20, 5), _boxes(20, 6)
    x1y1 = torch.min(pred[:, :2], target[:, :2])
    x2y2 = torch.max(pred[:, 2:], target[:, 2:])
    enclose = (x2y2 - x1y1).prod(dim=1)
    iou = aligned_iou(pred, target)
    areas = (pred[:, 2:] - pred[:, :2]).prod(dim=1) + (target[:, 2:] - target[:, :2]).prod(dim=1)
    union = areas / (1 + iou)  # areas = union + intersection = union * (1 + IoU)
    expected = 1 - (iou - (enclose - union) / enclose)
    torch.testing.assert_close(giou_loss(pred, target, reduction='none'), expected,
                               rtol=1e-5, atol=1e-5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"IoULoss mode must be one of \('linear', 'square'"):
        IoULoss(mode='exp')
    with pytest.raises(ValueError, match=r'iou_loss expects pred and target of one shape'):
        iou_loss(torch.zeros(3, 4), torch.zeros(2, 4))
