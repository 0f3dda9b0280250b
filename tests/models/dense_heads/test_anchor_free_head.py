"""AnchorFreeHead: points as priors, MMDetection's tower layout, distance decoding."""
import math

import pytest
import torch

from detkit.models.dense_heads import AnchorFreeHead


def build(**kwargs):
    args = dict(num_classes=3, in_channels=8, feat_channels=16, stacked_convs=2)
    args.update(kwargs)
    return AnchorFreeHead(**args)


def test_priors_are_the_cell_centres_of_the_given_strides():
    head = build(strides=[8, 16])
    points = head.prior_generator.grid_priors([(2, 3), (1, 2)])
    assert points[0].tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    assert points[1].tolist() == [[8, 8], [24, 8]]
    assert head.strides == [8, 16] and head.num_base_priors == 1
    assert type(head.bbox_coder).__name__ == 'DistancePointBBoxCoder'
    assert type(head.loss_bbox).__name__ == 'IoULoss'


def test_default_strides_are_mmdetections():
    assert build().prior_generator.strides == [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]


@pytest.mark.parametrize('norm_cfg, conv_bias, has_bias', [
    (None, 'auto', True), (dict(type='GN', num_groups=4), 'auto', False),
    (dict(type='GN', num_groups=4), True, True), (None, False, False)])
def test_conv_bias(norm_cfg, conv_bias, has_bias):
    head = build(norm_cfg=norm_cfg, conv_bias=conv_bias)
    for tower in (head.cls_convs, head.reg_convs):
        assert [m.conv.bias is not None for m in tower] == [has_bias] * 2


def test_tower_outputs_and_init():
    head = build(norm_cfg=dict(type='GN', num_groups=4))
    head.init_weights()
    assert torch.allclose(head.conv_cls.bias, torch.full((3,), -math.log(99)))
    assert head.conv_reg.bias.abs().max() == 0
    cls_score, bbox_pred, cls_feat, reg_feat = head.tower_outputs(torch.randn(2, 8, 5, 7))
    assert cls_score.shape == (2, 3, 5, 7) and bbox_pred.shape == (2, 4, 5, 7)
    assert cls_feat.shape == reg_feat.shape == (2, 16, 5, 7)
    assert (cls_feat >= 0).all()   # after the tower's ReLU
    assert not torch.equal(cls_feat, reg_feat)


def test_without_tower_the_predictors_read_the_input():
    head = build(stacked_convs=0)
    assert len(head.cls_convs) == 0 and head.conv_cls.in_channels == head.tower_channels == 8


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(dcn_on_last_conv=True), NotImplementedError, 'dcn_on_last_conv=True'),
    (dict(conv_bias='yes'), ValueError, "conv_bias must be 'auto' or a bool, got 'yes'"),
    (dict(prior_prob=1.0), ValueError, r'prior_prob must be in \(0, 1\), got 1.0'),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        build(**kwargs)
