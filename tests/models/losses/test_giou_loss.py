from pathlib import Path

import pytest
import torch

from detkit.models.losses import GIoULoss, giou_loss
from detkit.registry import MODELS

DATA = Path(__file__).resolve().parents[2] / 'data'
CLOSE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def ref():
    return torch.load(DATA / 'focal_loss.pt', weights_only=True)


def test_every_reference_case(ref):
    loss = MODELS.build(dict(type='GIoULoss', eps=1e-6))
    pred, target = ref['inputs']['giou_pred'], ref['inputs']['giou_target']
    weight, weight4 = ref['inputs']['giou_weight'], ref['inputs']['giou_weight4']
    avg = ref['inputs']['giou_avg_factor']
    ours = dict(none=loss(pred, target, reduction_override='none'),
                none_w=loss(pred, target, weight, reduction_override='none'),
                mean=loss(pred, target),
                mean_w=loss(pred, target, weight),
                mean_w_avg=loss(pred, target, weight, avg_factor=avg),
                sum_w=loss(pred, target, weight, reduction_override='sum'),
                mean_w4_avg=loss(pred, target, weight4, avg_factor=avg))
    assert set(ours) == set(ref['outputs']['giou'])
    for name, value in ours.items():
        assert torch.allclose(value, ref['outputs']['giou'][name], **CLOSE), name
    assert ours['mean'].item() == pytest.approx(0.703659, rel=1e-6)
    assert ours['none'][:4].abs().max() < 1e-6          # identical pairs


def test_hand_values():
    pred = torch.tensor([[0., 0., 1., 1.], [0., 0., 4., 4.], [0., 0., 2., 2.]])
    target = torch.tensor([[2., 0., 3., 1.], [1., 1., 3., 3.], [1., 0., 3., 2.]])
    # disjoint: IoU 0, enclosure 3, union 2 -> GIoU -1/3; nested: IoU 4/16, enclosure = union;
    # shifted: IoU 2/6, enclosure 6 = union
    expected = [1 + 1 / 3, 1 - 4 / 16, 1 - 2 / 6]
    assert giou_loss(pred, target, reduction='none').tolist() == pytest.approx(expected, rel=1e-6)
    pred.requires_grad_()
    GIoULoss(loss_weight=2.0)(pred, target).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_empty_and_errors():
    pred = torch.zeros(0, 4, requires_grad=True)
    out = GIoULoss()(pred, torch.zeros(0, 4), avg_factor=1.0)
    assert out.item() == 0.0 and out.requires_grad
    with pytest.raises(ValueError, match=r'giou_loss expects pred and target of one shape'):
        GIoULoss()(torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="GIoULoss reduction must be"):
        GIoULoss(reduction=None)
