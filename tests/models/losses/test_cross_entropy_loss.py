import pytest
import torch
import torch.nn.functional as F

from detkit.models.losses import CrossEntropyLoss
from detkit.registry import MODELS


@pytest.fixture
def data():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 4, generator=gen) * 3
    labels = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0, 1, -100, 2, -100])
    return logits, labels


def test_softmax_matches_torch(data):
    logits, labels = data
    kept = labels != -100
    loss = MODELS.build(dict(type='CrossEntropyLoss'))
    # ignored samples count in MMDetection's default mean (avg_non_ignore=False)
    expected = F.cross_entropy(logits, labels, reduction='sum') / 12
    assert torch.allclose(loss(logits, labels), expected, rtol=1e-6)
    assert torch.allclose(loss(logits[kept], labels[kept]),
                          F.cross_entropy(logits[kept], labels[kept]), rtol=1e-6)
    non_ignore = CrossEntropyLoss(avg_non_ignore=True)
    assert torch.allclose(non_ignore(logits, labels), F.cross_entropy(logits, labels), rtol=1e-6)
    assert torch.allclose(loss(logits, labels, reduction_override='sum'),
                          F.cross_entropy(logits, labels, reduction='sum'), rtol=1e-6)


def test_class_weight_sample_weight_and_avg_factor(data):
    logits, labels = data
    class_weight = [1.0, 2.0, 0.5, 3.0]
    loss = CrossEntropyLoss(class_weight=class_weight, loss_weight=2.0)
    per_sample = F.cross_entropy(logits, labels, weight=torch.tensor(class_weight),
                                 reduction='none')
    assert torch.allclose(loss(logits, labels, reduction_override='none'), 2 * per_sample)
    # mean divides by the sample count, not by the sum of class weights as torch would
    assert torch.allclose(loss(logits, labels), 2 * per_sample.mean(), rtol=1e-6)
    weight = torch.linspace(0, 1, 12)
    out = CrossEntropyLoss()(logits, labels, weight, avg_factor=5.0)
    expected = (F.cross_entropy(logits, labels, reduction='none') * weight).sum() / 5.0
    assert torch.allclose(out, expected, rtol=1e-6)


def test_sigmoid_mode_matches_bce_on_one_hot_rows(data):
    logits, labels = data
    labels = labels.clone()
    labels[0] = 4                                            # background: all-zero row
    target = torch.zeros(12, 4)
    ok = (labels >= 0) & (labels < 4)
    target[ok.nonzero()[:, 0], labels[ok]] = 1
    elementwise = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
    valid = (labels != -100).float()[:, None]
    loss = CrossEntropyLoss(use_sigmoid=True)
    assert torch.allclose(loss(logits, labels), (elementwise * valid).mean(), rtol=1e-6)
    non_ignore = CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True)
    assert torch.allclose(non_ignore(logits, labels),
                          (elementwise * valid).sum() / (10 * 4), rtol=1e-6)
    assert torch.allclose(loss(logits, target), elementwise.mean(), rtol=1e-6)


def test_mask_mode():
    pred = torch.randn(3, 5, 4, 4, generator=torch.Generator().manual_seed(1))
    target = (torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    mask_labels = torch.tensor([4, 0, 2])
    out = CrossEntropyLoss(use_mask=True)(pred, target, mask_labels=mask_labels)
    expected = F.binary_cross_entropy_with_logits(pred[[0, 1, 2], [4, 0, 2]], target)
    assert out.shape == (1,) and torch.allclose(out[0], expected)
    with pytest.raises(ValueError, match='needs mask_labels'):
        CrossEntropyLoss(use_mask=True)(pred, target)


def test_bad_arguments():
    with pytest.raises(ValueError, match='CrossEntropyLoss takes use_sigmoid or use_mask'):
        CrossEntropyLoss(use_sigmoid=True, use_mask=True)
    with pytest.raises(ValueError, match="CrossEntropyLoss reduction must be"):
        CrossEntropyLoss(reduction='batchmean')
