import pytest
import torch

from detkit.models.losses import QualityFocalLoss, quality_focal_loss, soft_target_from_labels
from detkit.registry import MODELS

CLOSE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def ref(load_ref):
    return load_ref('gfl_losses')


# reference case -> (target form, with weights, reduction, with avg_factor)
CASES = dict(none=('labels', False, 'none', False), none_w=('labels', True, 'none', False),
             mean=('labels', False, 'mean', False), mean_w=('labels', True, 'mean', False),
             mean_w_avg=('labels', True, 'mean', True), sum_w=('labels', True, 'sum', False),
             tensor_target_mean_w_avg=('tensor', True, 'mean', True))


def test_every_reference_case(ref):
    loss = MODELS.build(dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0))
    inputs = ref['inputs']
    targets = dict(labels=(inputs['qfl_labels'], inputs['qfl_score']),
                   tensor=inputs['qfl_soft_target'])
    assert set(CASES) == set(ref['outputs']['qfl'])
    for name, (form, weighted, reduction, averaged) in CASES.items():
        ours = loss(inputs['qfl_pred'], targets[form], inputs['qfl_weight'] if weighted else None,
                    avg_factor=inputs['qfl_avg_factor'] if averaged else None,
                    reduction_override=reduction)
        torch.testing.assert_close(ours, ref['outputs']['qfl'][name], **CLOSE, msg=name)
    mean_w_avg = loss(inputs['qfl_pred'], targets['labels'], inputs['qfl_weight'],
                      avg_factor=inputs['qfl_avg_factor'])
    assert mean_w_avg.item() == pytest.approx(17.955530, rel=1e-6)
    assert loss(inputs['qfl_pred'], targets['labels'], reduction_override='none').shape == (256,)
    assert int((inputs['qfl_labels'] < 5).sum()) == 125


def test_label_form_and_soft_target_form_agree(ref):
    inputs = ref['inputs']
    soft = soft_target_from_labels(inputs['qfl_labels'], inputs['qfl_score'], 5)
    assert torch.equal(soft, inputs['qfl_soft_target'])
    by_labels = quality_focal_loss(inputs['qfl_pred'], (inputs['qfl_labels'], inputs['qfl_score']),
                                   reduction='none')
    by_tensor = quality_focal_loss(inputs['qfl_pred'], soft, reduction='none')
    assert torch.equal(by_labels, by_tensor)


def test_formula_per_element():
    pred = torch.tensor([[0.3, -1.2, 2.0]])
    q = torch.tensor([[0.0, 0.7, 0.0]])
    p = pred.sigmoid()
    bce = -(q * p.log() + (1 - q) * (1 - p).log())
    expected = (bce * (q - p).abs() ** 1.5).sum()
    assert quality_focal_loss(pred, q, beta=1.5).item() == pytest.approx(expected.item(), rel=1e-6)
    # a perfect prediction of the quality has no loss on that element
    exact = torch.tensor([[torch.logit(torch.tensor(0.7)).item()]])
    assert quality_focal_loss(exact, torch.tensor([[0.7]])).item() == pytest.approx(0, abs=1e-7)


def test_probabilities_per_element_weights_and_loss_weight():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 4, generator=gen)
    labels = torch.randint(0, 5, (20,), generator=gen)
    scores = torch.rand(20, generator=gen)
    by_prob = QualityFocalLoss(activated=True)(logits.sigmoid(), (labels, scores))
    assert by_prob.item() == pytest.approx(QualityFocalLoss()(logits, (labels, scores)).item(),
                                           rel=1e-5)
    elem_weight = torch.rand(20, 4, generator=gen)
    soft = soft_target_from_labels(labels, scores, 4)
    per_elem = QualityFocalLoss(loss_weight=0.5)(logits, soft, elem_weight,
                                                 reduction_override='sum')
    p = logits.sigmoid()
    bce = -(soft * p.log() + (1 - soft) * (1 - p).log())
    expected = 0.5 * (bce * (soft - p).abs() ** 2 * elem_weight).sum()
    assert per_elem.item() == pytest.approx(expected.item(), rel=1e-5)


def test_matches_the_gfl_head_reference_per_level(load_ref):
    """GFLHead's loss_cls per level: soft IoU targets at the positives, label weights,
    avg_factor 72; detkit's heads pass the same as one [N, K] soft target."""
    head = load_ref('gfl_head')
    targets = head['outputs']['targets']
    loss = QualityFocalLoss()
    for level, expected in enumerate(head['outputs']['losses']['loss_cls']):
        cls = head['outputs']['cls_scores'][level]
        pred = cls.permute(0, 2, 3, 1).reshape(-1, 4)
        labels = targets['labels'][level].reshape(-1).long()
        scores = torch.zeros(labels.shape)
        scores[targets['pos_index'][level]] = targets['qfl_score'][level]
        weight = targets['label_weights'][level].reshape(-1).float()
        ours = loss(pred, soft_target_from_labels(labels, scores, 4), weight,
                    avg_factor=targets['avg_factor'])
        torch.testing.assert_close(ours, expected, **CLOSE)


def test_bad_arguments_are_named():
    with pytest.raises(NotImplementedError, match='use_sigmoid=True'):
        QualityFocalLoss(use_sigmoid=False)
    with pytest.raises(ValueError, match='beta must be >= 0'):
        QualityFocalLoss(beta=-1)
    with pytest.raises(ValueError, match=r"soft target of pred's shape \(3, 2\), got \(3, 3\)"):
        quality_focal_loss(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match='got a sequence of 3'):
        quality_focal_loss(torch.zeros(3, 2), (torch.zeros(3), torch.zeros(3), torch.zeros(3)))
    with pytest.raises(ValueError, match="reduction must be 'none', 'mean' or 'sum'"):
        QualityFocalLoss(reduction='avg')
