import math

import pytest
import torch
import torch.nn.functional as F

from detkit.models.losses import VarifocalLoss, varifocal_loss
from detkit.registry import MODELS


def _bce(x, q):
    p = 1 / (1 + math.exp(-x))
    return -(q * math.log(p) + (1 - q) * math.log(1 - p))


def test_two_by_two_by_hand():
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    target = torch.tensor([[0.8, 0.0], [0.0, 0.3]])       # IoU-aware scores q
    alpha, gamma = 0.75, 2.0
    p = [[1 / (1 + math.exp(-v)) for v in row] for row in logits.tolist()]
    expected = [
        [0.8 * _bce(0.5, 0.8), alpha * p[0][1] ** gamma * _bce(-1.0, 0.0)],
        [alpha * p[1][0] ** gamma * _bce(2.0, 0.0), 0.3 * _bce(0.0, 0.3)],
    ]
    loss = MODELS.build(dict(type='VarifocalLoss', use_sigmoid=True, alpha=alpha, gamma=gamma,
                             iou_weighted=True, reduction='none'))
    out = loss(logits, target)
    assert out.tolist()[0] == pytest.approx(expected[0], rel=1e-6)
    assert out.tolist()[1] == pytest.approx(expected[1], rel=1e-6)
    total = sum(sum(row) for row in expected)
    assert VarifocalLoss()(logits, target, avg_factor=2.0).item() == \
        pytest.approx(total / 2.0, rel=1e-6)
    # without IoU weighting a positive counts with weight 1
    plain = varifocal_loss(logits, target, iou_weighted=False, reduction='none')
    assert plain[0, 0].item() == pytest.approx(_bce(0.5, 0.8), rel=1e-6)


def test_reduces_to_bce_without_focusing():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen)
    hard = (torch.rand(6, 3, generator=gen) > 0.6).float()
    # alpha 1, gamma 0: every weight is 1 (positives q = 1), so it is plain BCE
    for iou_weighted in (True, False):
        out = varifocal_loss(logits, hard, alpha=1.0, gamma=0.0, iou_weighted=iou_weighted)
        assert torch.allclose(out, F.binary_cross_entropy_with_logits(logits, hard), rtol=1e-6)


def test_negatives_are_focal_down_weighted():
    logits = torch.tensor([[-4.0, 4.0]])
    out = varifocal_loss(logits, torch.zeros(1, 2), reduction='none')
    # both are scaled by 0.75 p^2: the easy negative (p ~ 0.018) nearly vanishes
    p = torch.sigmoid(logits)
    assert torch.allclose(out, 0.75 * p ** 2 * F.softplus(logits))
    assert out[0, 0] < 1e-3 * out[0, 1]


def test_bad_arguments():
    with pytest.raises(NotImplementedError, match='VarifocalLoss supports only use_sigmoid'):
        VarifocalLoss(use_sigmoid=False)
    with pytest.raises(ValueError, match='VarifocalLoss alpha and gamma must be >= 0'):
        VarifocalLoss(alpha=-0.1)
    with pytest.raises(ValueError, match='varifocal_loss expects pred and target of one shape'):
        VarifocalLoss()(torch.zeros(2, 3), torch.zeros(2))
