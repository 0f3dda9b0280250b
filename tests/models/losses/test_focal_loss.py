from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from detkit.models.losses import FocalLoss, focal_loss_with_prob, sigmoid_focal_loss
from detkit.registry import MODELS

DATA = Path(__file__).resolve().parents[2] / 'data'
CLOSE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def ref():
    return torch.load(DATA / 'focal_loss.pt', weights_only=True)


def _straightforward(logits, labels, weight=None, avg_factor=None, alpha=0.25, gamma=2.0):
    """The focal loss as written in the paper, with an explicit one-hot."""
    num_classes = logits.size(1)
    target = F.one_hot(labels, num_classes + 1)[:, :num_classes].float()
    prob = logits.sigmoid()
    p_t = prob * target + (1 - prob) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    loss = -alpha_t * (1 - p_t) ** gamma * torch.log(p_t.clamp(min=1e-30))
    if weight is not None:
        loss = loss * (weight[:, None] if weight.dim() == 1 else weight)
    return loss.sum() / avg_factor if avg_factor else loss.mean()


def test_every_reference_case(ref):
    x, labels = ref['inputs']['focal_logits'], ref['inputs']['focal_labels']
    w_sample, w_class = ref['inputs']['focal_weight_sample'], ref['inputs']['focal_weight_class']
    avg = ref['inputs']['focal_avg_factor']
    loss = MODELS.build(dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25))
    ours = dict(
        none_w=loss(x, labels, w_sample, reduction_override='none'),
        mean=loss(x, labels),
        mean_w=loss(x, labels, w_sample),
        mean_w_avg=loss(x, labels, w_sample, avg_factor=avg),
        mean_avg=loss(x, labels, avg_factor=avg),
        sum_w=loss(x, labels, w_sample, reduction_override='sum'),
        mean_wclass_avg=loss(x, labels, w_class, avg_factor=avg),
        onehot_mean_w_avg=loss(x, ref['inputs']['focal_onehot'], w_sample, avg_factor=avg))
    assert set(ours) == set(ref['outputs']['focal'])
    for case, value in ours.items():
        expected = ref['outputs']['focal'][case]
        assert value.shape == expected.shape, case
        assert torch.allclose(value, expected, **CLOSE), case
    assert ours['mean_w_avg'].item() == pytest.approx(10.243008, rel=1e-6)


def test_labels_and_one_hot_targets_agree_elementwise(ref):
    x, labels = ref['inputs']['focal_logits'], ref['inputs']['focal_labels']
    by_label = sigmoid_focal_loss(x, labels, reduction='none')
    by_onehot = sigmoid_focal_loss(x, ref['inputs']['focal_onehot'], reduction='none')
    assert torch.equal(by_label, by_onehot)
    assert by_label.shape == (256, 5)


def test_gradient_matches_autograd_of_the_paper_formula(ref):
    logits = ref['inputs']['focal_logits'][4:].clone()   # rows 0..3 saturate the log
    labels, weight = ref['inputs']['focal_labels'][4:], ref['inputs']['focal_weight_sample'][4:]
    ours = logits.clone().requires_grad_()
    theirs = logits.clone().requires_grad_()
    value = FocalLoss(loss_weight=2.0)(ours, labels, weight, avg_factor=37.0)
    expected = 2.0 * _straightforward(theirs, labels, weight, avg_factor=37.0)
    assert torch.allclose(value, expected, rtol=1e-5)
    value.backward()
    expected.backward()
    assert torch.allclose(ours.grad, theirs.grad, rtol=1e-4, atol=1e-8)
    assert ours.grad.abs().max() > 1e-3


def test_saturated_logits_give_finite_values_and_gradients(ref):
    logits = ref['inputs']['focal_logits'][:4].clone().requires_grad_()
    loss = sigmoid_focal_loss(logits, ref['inputs']['focal_labels'][:4], reduction='sum')
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_probability_input(ref):
    x, labels = ref['inputs']['focal_logits'][4:], ref['inputs']['focal_labels'][4:]
    prob = FocalLoss(activated=True)(x.sigmoid(), labels, reduction_override='none')
    assert torch.allclose(prob, sigmoid_focal_loss(x, labels, reduction='none'), rtol=1e-4,
                          atol=1e-6)
    onehot = F.one_hot(labels, 6)[:, :5].float()
    assert torch.allclose(focal_loss_with_prob(x.sigmoid(), onehot), prob.mean(), rtol=1e-6)


def test_empty_batch_and_loss_weight():
    logits = torch.zeros(0, 3, requires_grad=True)
    labels = torch.zeros(0, dtype=torch.long)
    assert FocalLoss()(logits, labels, avg_factor=1.0).item() == 0.0
    x = torch.tensor([[0.0, 0.0]])
    # p = 0.5 everywhere, label 0: alpha * 0.25 * log 2 + (1 - alpha) * 0.25 * log 2
    expected = (0.25 + 0.75) * 0.25 * torch.log(torch.tensor(2.0))
    out = FocalLoss(loss_weight=3.0, reduction='sum')(x, torch.tensor([0]))
    assert torch.allclose(out, 3.0 * expected)


def test_bad_arguments():
    with pytest.raises(NotImplementedError, match='FocalLoss supports only use_sigmoid=True'):
        FocalLoss(use_sigmoid=False)
    with pytest.raises(ValueError, match="FocalLoss reduction must be 'none', 'mean' or 'sum'"):
        FocalLoss(reduction='avg')
    with pytest.raises(ValueError, match='FocalLoss reduction_override must be'):
        FocalLoss()(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), reduction_override='max')
    with pytest.raises(ValueError, match='FocalLoss gamma must be >= 0'):
        FocalLoss(gamma=-1)
    with pytest.raises(ValueError, match='integer labels'):
        FocalLoss()(torch.zeros(2, 3), torch.zeros(2))
