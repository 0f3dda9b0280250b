import math

import pytest
import torch

from detkit.models.losses import DistributionFocalLoss, distribution_focal_loss
from detkit.registry import MODELS

CLOSE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def ref(load_ref):
    return load_ref('gfl_losses')


def test_every_reference_case(ref):
    loss = MODELS.build(dict(type='DistributionFocalLoss'))
    inputs = ref['inputs']
    pred, target = inputs['dfl_pred'], inputs['dfl_target']
    weight, avg = inputs['dfl_weight'], inputs['dfl_avg_factor']
    ours = dict(none=loss(pred, target, reduction_override='none'),
                none_w=loss(pred, target, weight, reduction_override='none'),
                mean=loss(pred, target),
                mean_w_avg=loss(pred, target, weight, avg_factor=avg),
                sum_w=loss(pred, target, weight, reduction_override='sum'),
                lw025_mean_w_avg=DistributionFocalLoss(loss_weight=0.25)(pred, target, weight,
                                                                         avg_factor=avg))
    assert set(ours) == set(ref['outputs']['dfl'])
    for name, value in ours.items():
        torch.testing.assert_close(value, ref['outputs']['dfl'][name], **CLOSE, msg=name)
    assert ours['mean_w_avg'].item() == pytest.approx(121.339241, rel=1e-6)


def test_two_bin_cross_entropy_by_hand():
    logits = torch.tensor([[0.5, 2.0, -1.0, 0.0]])
    log_p = logits.log_softmax(dim=1)[0]
    # 1.25: 75 % towards bin 1, 25 % towards bin 2
    expected = -(0.75 * log_p[1] + 0.25 * log_p[2])
    assert distribution_focal_loss(logits, torch.tensor([1.25])).item() == \
        pytest.approx(expected.item(), rel=1e-6)
    # an integer target is plain cross-entropy on its bin
    assert distribution_focal_loss(logits, torch.tensor([2.])).item() == \
        pytest.approx(-log_p[2].item(), rel=1e-6)
    # the last bin as a target has no right neighbour to look up
    assert distribution_focal_loss(logits, torch.tensor([3.])).item() == \
        pytest.approx(-log_p[3].item(), rel=1e-6)
    assert math.isfinite(distribution_focal_loss(logits, torch.tensor([3.])).item())


def test_matches_the_gfl_head_reference_per_level(load_ref):
    """GFLHead's loss_dfl: 0.25 * DFL of the positives' side logits against dfl_targets,
    each side weighted by the positive's weight target, / (4 + eps), / bbox_avg_factor."""
    head = load_ref('gfl_head')
    targets = head['outputs']['targets']
    loss = DistributionFocalLoss(loss_weight=0.25)
    for level in range(3):
        preds = head['outputs']['bbox_preds'][level]
        logits = preds.permute(0, 2, 3, 1).reshape(-1, 68)[targets['pos_index'][level]]
        weight = targets['weight_targets'][level][:, None].expand(-1, 4).reshape(-1)
        ours = loss(logits.reshape(-1, 17), targets['dfl_targets'][level].reshape(-1), weight,
                    avg_factor=4.0) / targets['bbox_avg_factor']
        torch.testing.assert_close(ours, head['outputs']['losses']['loss_dfl'][level], **CLOSE)


def test_gradient_pulls_towards_the_two_bins():
    logits = torch.zeros(1, 5, requires_grad=True)
    distribution_focal_loss(logits, torch.tensor([2.4])).backward()
    grad = logits.grad[0]
    assert grad[2] < 0 and grad[3] < 0 and (grad[[0, 1, 4]] > 0).all()
    assert grad[2] < grad[3]  # bin 2 is nearer


def test_wrong_shapes_are_named():
    with pytest.raises(ValueError, match=r'expects pred \[N, n \+ 1\] and label \[N\]'):
        distribution_focal_loss(torch.zeros(4, 17), torch.zeros(4, 4))
