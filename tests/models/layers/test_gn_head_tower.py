"""GN towers + Scale as the ATSS / GFL / FCOS heads build them, against MMDetection's numbers."""
import pytest
import torch
from torch import nn

from detkit.models.layers import ConvModule, Scale, build_norm_layer

GN8 = dict(type='GN', num_groups=8, requires_grad=True)


class _Tower(nn.Module):
    """The parameter layout of mmdet's ATSSHead (num_classes 4, 32 channels, 2 convs)."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_convs = nn.ModuleList(
            [ConvModule(32, 32, 3, padding=1, norm_cfg=GN8) for _ in range(2)])
        self.reg_convs = nn.ModuleList(
            [ConvModule(32, 32, 3, padding=1, norm_cfg=GN8) for _ in range(2)])
        self.atss_cls = nn.Conv2d(32, 4, 3, padding=1)
        self.atss_reg = nn.Conv2d(32, 4, 3, padding=1)
        self.atss_centerness = nn.Conv2d(32, 1, 3, padding=1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in range(5)])


def test_gn_conv_modules_and_scales_reproduce_the_atss_head_outputs(load_ref):
    ref = load_ref('atss_head')
    tower = _Tower()
    tower.load_state_dict(ref['inputs']['state_dict'], strict=True)
    for level, feat in enumerate(ref['inputs']['feats']):
        cls_feat = reg_feat = feat.float()
        for conv in tower.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in tower.reg_convs:
            reg_feat = conv(reg_feat)
        close = dict(rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(tower.atss_cls(cls_feat),
                                   ref['outputs']['cls_scores'][level], **close)
        torch.testing.assert_close(tower.scales[level](tower.atss_reg(reg_feat)),
                                   ref['outputs']['bbox_preds'][level], **close)
        torch.testing.assert_close(tower.atss_centerness(reg_feat),
                                   ref['outputs']['centernesses'][level], **close)


def test_gn_config_of_the_stock_heads():
    conv = ConvModule(256, 256, 3, padding=1,
                      norm_cfg=dict(type='GN', num_groups=32, requires_grad=True))
    assert [(k, tuple(v.shape)) for k, v in conv.state_dict().items()] == [
        ('conv.weight', (256, 256, 3, 3)), ('gn.weight', (256,)), ('gn.bias', (256,))]
    assert conv.gn.num_groups == 32 and conv.gn.eps == 1e-5 and conv.gn.affine
    frozen = ConvModule(64, 64, 3, norm_cfg=dict(type='GN', num_groups=32, requires_grad=False))
    assert not any(p.requires_grad for p in frozen.gn.parameters())
    with pytest.raises(ValueError, match='GN: num_groups=32 does not divide the 48 channels'):
        build_norm_layer(dict(type='GN', num_groups=32), 48)
