import pytest
import torch
from torch import nn

from detkit.models.layers import (ConvModule, build_activation_layer, build_conv_layer,
                                  build_norm_layer)


def test_build_norm_layer_names_and_requires_grad():
    name, bn = build_norm_layer(dict(type='BN', requires_grad=False), 8, postfix=1)
    assert name == 'bn1' and isinstance(bn, nn.BatchNorm2d) and bn.eps == 1e-5
    assert not any(p.requires_grad for p in bn.parameters())
    name, gn = build_norm_layer(dict(type='GN', num_groups=4), 8, postfix=2)
    assert name == 'gn2' and isinstance(gn, nn.GroupNorm) and gn.num_groups == 4
    assert build_norm_layer(dict(type='SyncBN'), 8)[0] == 'bn'


@pytest.mark.parametrize('cfg, match', [
    (dict(type='GN'), 'num_groups'),
    (dict(type='Conv2d'), 'not a norm layer'),
    ('BN', 'must be a dict'),
])
def test_build_norm_layer_errors(cfg, match):
    with pytest.raises((KeyError, TypeError), match=match):
        build_norm_layer(cfg, 8)


def test_build_conv_layer():
    assert type(build_conv_layer(None, 3, 4, 3)) is nn.Conv2d
    conv = build_conv_layer(dict(type='Conv2d', dilation=2), 3, 4, 3, padding=2, bias=False)
    assert conv.dilation == (2, 2) and conv.bias is None
    with pytest.raises(KeyError, match='Conv2d'):
        build_conv_layer(dict(type='Conv2D'), 3, 4, 3)


def test_conv_module_names_bias_and_forward():
    plain = ConvModule(3, 8, 3, padding=1, act_cfg=None)
    assert [k for k, _ in plain.state_dict().items()] == ['conv.weight', 'conv.bias']
    gn = ConvModule(3, 8, 3, stride=2, padding=1, norm_cfg=dict(type='GN', num_groups=2))
    assert sorted(gn.state_dict()) == ['conv.weight', 'gn.bias', 'gn.weight']
    assert gn(torch.randn(1, 3, 10, 10)).shape == (1, 8, 5, 5)
    bn = ConvModule(3, 8, 1, norm_cfg=dict(type='BN'), bias=True)
    assert 'conv.bias' in bn.state_dict() and 'bn.running_mean' in bn.state_dict()
    dilated = ConvModule(4, 4, 3, padding=2, dilation=2, groups=2, conv_cfg=dict(type='Conv2d'))
    assert dilated.conv.dilation == (2, 2) and dilated.conv.groups == 2
    assert dilated(torch.randn(1, 4, 9, 9)).shape == (1, 4, 9, 9)


def test_conv_module_activation():
    relu = ConvModule(2, 2, 1, inplace=False)
    assert isinstance(relu.activate, nn.ReLU) and not relu.activate.inplace
    assert (relu(torch.randn(2, 2, 4, 4)) >= 0).all()
    assert isinstance(build_activation_layer(None), nn.Identity)
    assert isinstance(build_activation_layer(dict(type='LeakyReLU', negative_slope=0.2)),
                      nn.LeakyReLU)
