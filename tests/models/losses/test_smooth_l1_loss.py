from pathlib import Path

import pytest
import torch

from detkit.models.losses import L1Loss, SmoothL1Loss, smooth_l1_loss
from detkit.registry import MODELS

DATA = Path(__file__).resolve().parents[2] / 'data'
CLOSE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def ref():
    return torch.load(DATA / 'focal_loss.pt', weights_only=True)


@pytest.mark.parametrize('case, cfg', [
    ('l1', dict(type='L1Loss')),
    ('smooth_l1_beta_1_9', dict(type='SmoothL1Loss', beta=1 / 9)),
    ('smooth_l1_beta_1', dict(type='SmoothL1Loss', beta=1.0)),
])
def test_every_reference_case(ref, case, cfg):
    loss = MODELS.build(cfg)
    pred, target = ref['inputs']['reg_pred'], ref['inputs']['reg_target']
    weight, avg = ref['inputs']['reg_weight'], ref['inputs']['reg_avg_factor']
    ours = dict(none_w=loss(pred, target, weight, reduction_override='none'),
                mean=loss(pred, target),
                mean_w=loss(pred, target, weight),
                mean_w_avg=loss(pred, target, weight, avg_factor=avg),
                sum_w=loss(pred, target, weight, reduction_override='sum'))
    assert set(ours) == set(ref['outputs'][case])
    for name, value in ours.items():
        assert torch.allclose(value, ref['outputs'][case][name], **CLOSE), name
    if case == 'l1':
        assert ours['mean_w_avg'].item() == pytest.approx(1.755380, rel=1e-6)
    # a [n] row weight means the same as the [n, 4] one with equal columns
    row_weight = weight[:, 0]
    assert torch.allclose(loss(pred, target, row_weight, avg_factor=avg), ours['mean_w_avg'],
                          rtol=1e-6)


def test_hand_values_on_both_sides_of_beta():
    pred = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    target = torch.tensor([[0.05, -0.1, 0.5, -2.0]])
    beta = 0.2
    expected = [0.5 * 0.05 ** 2 / beta, 0.5 * 0.1 ** 2 / beta, 0.5 - 0.1, 2.0 - 0.1]
    out = smooth_l1_loss(pred, target, beta, reduction='none')
    assert out[0].tolist() == pytest.approx(expected, rel=1e-6)
    assert L1Loss(reduction='sum', loss_weight=0.5)(pred, target).item() == \
        pytest.approx(0.5 * 2.65, rel=1e-6)


def test_no_positives_give_zero_connected_to_pred():
    pred = torch.zeros(0, 4, requires_grad=True)
    for loss in (L1Loss(), SmoothL1Loss(beta=1 / 9)):
        out = loss(pred, torch.zeros(0, 4), avg_factor=1.0)
        assert out.item() == 0.0 and out.requires_grad
        assert loss(pred, torch.zeros(0, 4)).item() == 0.0   # not NaN from a mean of nothing


def test_bad_arguments():
    with pytest.raises(ValueError, match='SmoothL1Loss beta must be > 0'):
        SmoothL1Loss(beta=0)
    with pytest.raises(ValueError, match="L1Loss reduction must be 'none', 'mean' or 'sum'"):
        L1Loss(reduction='elementwise_mean')
    with pytest.raises(ValueError, match=r'l1_loss expects pred and target of one shape'):
        L1Loss()(torch.zeros(3, 4), torch.zeros(2, 4))
