"""ATSSHead against MMDetection 3.3.0 (tests/data/atss_head.pt): layout, defaults, targets,
per-level losses; forward, gradients and detections are in test_head_references.py."""
import math

import pytest
import torch
from mmengine.structures import InstanceData

from detkit.models.utils.level_maps import flatten_levels
from detkit.registry import MODELS

OUTPUTS = ['cls_scores', 'bbox_preds', 'centernesses']
LEVEL_SIZES = [1536, 384, 96, 24, 6]


@pytest.fixture(scope='module')
def case(head_case):
    return head_case('atss_head', OUTPUTS)


def test_names_order_and_init(case):
    head = case.build()
    assert list(head.state_dict()) == list(case.inputs['state_dict'])
    assert head.atss_reg.weight.shape == (4, 32, 3, 3)
    assert head.atss_centerness.weight.shape == (1, 32, 3, 3)
    torch.manual_seed(0)
    head = MODELS.build(case.ref['meta']['head_cfg'])
    head.init_weights()
    assert torch.allclose(head.atss_cls.bias, torch.full((4,), -math.log(99)))
    assert head.atss_reg.weight.std().item() == pytest.approx(0.01, rel=0.2)
    assert head.atss_centerness.bias.item() == 0
    assert head.cls_convs[0].gn.weight.eq(1).all() and head.cls_convs[0].conv.bias is None
    assert [s.scale.item() for s in head.scales] == [1.0] * 5


def test_defaults_are_the_atss_config():
    head = MODELS.build(dict(type='ATSSHead', num_classes=80, in_channels=256))
    assert head.num_base_priors == 1 and head.reg_decoded_bbox
    assert head.bbox_coder.stds == (0.1, 0.1, 0.2, 0.2)
    assert head.loss_bbox.loss_weight == 2.0 and type(head.loss_bbox).__name__ == 'GIoULoss'
    assert head.loss_centerness.use_sigmoid
    assert head.cls_convs[3].gn.num_groups == 32
    priors = head.prior_generator.grid_priors([(1, 1)] * 5)
    assert [p.tolist() for p in priors[:2]] == [[[-32., -32., 32., 32.]], [[-64., -64., 64., 64.]]]


def test_even_prediction_kernel_is_refused():
    with pytest.raises(ValueError, match='pred_kernel_size must be odd'):
        MODELS.build(dict(type='ATSSHead', num_classes=4, in_channels=32, pred_kernel_size=2))


def test_targets_match_reference(case, per_level):
    head = case.build()
    ref = case.outputs['targets']
    sizes = [tuple(s.shape[-2:]) for s in case.outputs['cls_scores']]
    targets = head.get_targets(sizes, case.gts, case.metas)
    assert targets.level_sizes == LEVEL_SIZES
    valid = targets.label_weights > 0
    gt_inds = torch.where(targets.pos_mask, targets.gt_inds + 1, 0).masked_fill(~valid, -1)
    for img in range(2):
        assert torch.equal(gt_inds[img], ref['gt_inds'][img].long())
        inside = [int(v.sum()) for v in valid[img].split(LEVEL_SIZES)]
        assert inside == list(ref['num_level_anchors_inside'][img])
    assert targets.avg_factor.item() == ref['avg_factor'] == 72
    centerness = head.centerness_targets(targets)
    decoded = head.bbox_coder.decode(targets.priors, flatten_levels(case.outputs['bbox_preds'], 4))
    for level in range(5):
        pos = per_level(targets.pos_mask, LEVEL_SIZES)[level]
        assert torch.equal(pos.nonzero().squeeze(1), ref['pos_index'][level].long())
        assert torch.equal(per_level(targets.labels, LEVEL_SIZES)[level],
                           ref['labels'][level].flatten().long())
        assert torch.equal(per_level(targets.label_weights, LEVEL_SIZES)[level],
                           ref['label_weights'][level].flatten().float())
        assert torch.equal(per_level(targets.bbox_targets, LEVEL_SIZES)[level][pos],
                           ref['pos_bbox_targets'][level])
        torch.testing.assert_close(per_level(centerness, LEVEL_SIZES)[level][pos],
                                   ref['centerness_targets'][level], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(per_level(decoded, LEVEL_SIZES)[level][pos],
                                   ref['pos_decode_bbox_pred'][level], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(centerness.sum(), torch.tensor(ref['bbox_avg_factor']),
                               rtol=1e-5, atol=1e-6)


def test_losses_match_reference_per_level_and_in_total(case):
    bbox_avg_factor = max(case.outputs['targets']['bbox_avg_factor'], 1.0)
    case.assert_losses(case.build(), LEVEL_SIZES, dict(
        loss_cls=1.0, loss_bbox=1 / bbox_avg_factor, loss_centerness=1.0))


def test_centerness_multiplies_the_scores(case):
    cls_scores, bbox_preds, centernesses = case.synthetic_outputs()
    head = case.build()
    plain = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=case.metas)
    half = [torch.zeros_like(c) for c in centernesses]  # sigmoid 0.5
    factored = head.predict_by_feat(cls_scores, bbox_preds, half, batch_img_metas=case.metas)
    torch.testing.assert_close(factored[0].scores, plain[0].scores * 0.5)


def test_ignore_regions_take_anchors_out_of_the_classification_loss(case):
    cfg = case.ref['meta']['head_cfg']
    head = case.build(train_cfg=dict(cfg['train_cfg'], assigner=dict(
        type='ATSSAssigner', topk=9, ignore_iof_thr=0.5)))
    ignore = [InstanceData(bboxes=torch.tensor([[200., 0., 384., 120.]])),
              InstanceData(bboxes=torch.zeros(0, 4))]
    plain = head.loss_by_feat(*case.head_outputs(), case.gts, case.metas)
    ignored = head.loss_by_feat(*case.head_outputs(), case.gts, case.metas, ignore)
    assert ignored['loss_cls'] < plain['loss_cls']
    sizes = [tuple(s.shape[-2:]) for s in case.outputs['cls_scores']]
    targets = head.get_targets(sizes, case.gts, case.metas, ignore)
    plain_targets = head.get_targets(sizes, case.gts, case.metas)
    dropped = (plain_targets.label_weights > 0) & (targets.label_weights == 0)
    assert dropped[0].sum() > 0 and dropped[1].sum() == 0
    assert torch.equal(targets.pos_mask[1], plain_targets.pos_mask[1])
