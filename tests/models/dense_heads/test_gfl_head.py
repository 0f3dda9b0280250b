"""GFLHead against MMDetection 3.3.0 (tests/data/gfl_head.pt): layout, defaults, targets,
per-level losses, decoding; forward, gradients, detections: test_head_references.py."""
import math

import pytest
import torch

from detkit.models.utils.level_maps import flatten_levels
from detkit.registry import MODELS

OUTPUTS = ['cls_scores', 'bbox_preds']
LEVEL_SIZES = [1536, 384, 96, 24, 6]


@pytest.fixture(scope='module')
def case(head_case):
    return head_case('gfl_head', OUTPUTS)


def test_names_order_and_init(case):
    head = case.build()
    assert list(head.state_dict()) == list(case.inputs['state_dict'])
    assert head.gfl_reg.weight.shape == (68, 32, 3, 3) and head.bbox_channels == 68
    assert torch.equal(head.integral.project, torch.arange(17.))
    torch.manual_seed(0)
    head = MODELS.build(case.ref['meta']['head_cfg'])
    head.init_weights()
    assert torch.allclose(head.gfl_cls.bias, torch.full((4,), -math.log(99)))
    assert head.gfl_reg.weight.std().item() == pytest.approx(0.01, rel=0.2)
    assert head.gfl_reg.bias.abs().sum() == 0
    assert [s.scale.item() for s in head.scales] == [1.0] * 5


def test_defaults_are_the_gfl_config():
    head = MODELS.build(dict(type='GFLHead', num_classes=80, in_channels=256))
    assert head.num_base_priors == 1 and head.reg_max == 16
    assert type(head.bbox_coder).__name__ == 'DistancePointBBoxCoder'
    assert (type(head.loss_cls).__name__, head.loss_cls.beta) == ('QualityFocalLoss', 2.0)
    assert head.loss_dfl.loss_weight == 0.25 and head.loss_bbox.loss_weight == 2.0
    assert head.gfl_reg.out_channels == 68 and head.cls_convs[3].gn.num_groups == 32


def test_reg_max_sets_the_box_channels():
    head = MODELS.build(dict(type='GFLHead', num_classes=3, in_channels=8, feat_channels=8,
                             stacked_convs=1, norm_cfg=None, reg_max=7))
    assert head.gfl_reg.out_channels == 32 and head.integral.project.tolist()[-1] == 7


def test_several_anchors_per_location_are_refused():
    with pytest.raises(ValueError, match='GFLHead predicts one box per location.*got 3'):
        MODELS.build(dict(type='GFLHead', num_classes=4, in_channels=32, anchor_generator=dict(
            type='AnchorGenerator', ratios=[0.5, 1.0, 2.0], octave_base_scale=8,
            scales_per_octave=1, strides=[8, 16, 32, 64, 128])))


def test_targets_match_reference(case, per_level):
    head = case.build()
    ref = case.outputs['targets']
    sizes = [tuple(s.shape[-2:]) for s in case.outputs['cls_scores']]
    targets = head.get_targets(sizes, case.gts, case.metas)
    valid = targets.label_weights > 0
    gt_inds = torch.where(targets.pos_mask, targets.gt_inds + 1, 0).masked_fill(~valid, -1)
    assert torch.equal(gt_inds, torch.stack(ref['gt_inds']).long())
    assert targets.avg_factor.item() == ref['avg_factor'] == 72
    side_logits = flatten_levels(case.outputs['bbox_preds'], 68)
    box = head.box_targets(case.outputs['cls_scores'], side_logits, targets)
    for level in range(5):
        pos = per_level(targets.pos_mask, LEVEL_SIZES)[level]
        assert torch.equal(pos.nonzero().squeeze(1), ref['pos_index'][level].long())
        assert torch.equal(per_level(targets.labels, LEVEL_SIZES)[level],
                           ref['labels'][level].flatten().long())
        for ours, name in ((box.boxes, 'pos_decode_bbox_targets'), (box.sides, 'dfl_targets')):
            assert torch.equal(per_level(ours, LEVEL_SIZES)[level][pos], ref[name][level]), name
        for ours, name in ((box.quality, 'qfl_score'), (box.weight, 'weight_targets'),
                           (box.pred_boxes, 'pos_decode_bbox_pred')):
            torch.testing.assert_close(per_level(ours, LEVEL_SIZES)[level][pos],
                                       ref[name][level], rtol=1e-5, atol=1e-5)
    # off the positives the quality target and the weight are 0
    assert box.quality[~targets.pos_mask].abs().sum() == 0
    assert box.weight[~targets.pos_mask].abs().sum() == 0
    torch.testing.assert_close(box.weight.sum(), torch.tensor(ref['bbox_avg_factor']),
                               rtol=1e-5, atol=1e-6)


def test_losses_match_reference_per_level_and_in_total(case):
    bbox_avg_factor = max(case.outputs['targets']['bbox_avg_factor'], 1.0)
    case.assert_losses(case.build(), LEVEL_SIZES, dict(
        loss_cls=1.0, loss_bbox=1 / bbox_avg_factor, loss_dfl=1 / bbox_avg_factor))


def test_decode_is_the_integral_times_the_stride_around_the_anchor_centre(case):
    head = case.build()
    logits = torch.full((1, 1, 68), -30.)
    logits[0, 0, [2, 17 + 3, 34 + 4, 51 + 5]] = 30.  # sides 2, 3, 4, 5 bins, surely
    anchor = torch.tensor([[[0., 0., 256., 256.]]])   # centre (128, 128), P5 (stride 32)
    boxes = head.decode_level(anchor, logits, 2, torch.tensor([[1000., 1000.]]))
    torch.testing.assert_close(boxes, torch.tensor([[[64., 32., 256., 288.]]]))
