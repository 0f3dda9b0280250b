import math
from pathlib import Path

import pytest
import torch

from detkit.models.backbones import ResNet
from detkit.models.necks import FPN
from detkit.registry import MODELS

KEYS = Path(__file__).parents[2] / 'data' / 'mmdet_retinanet_r50_state_dict_keys.txt'
IN_CHANNELS = [8, 16, 32, 64]
SIZES = [(32, 48), (16, 24), (8, 12), (4, 6)]  # C2..C5 of a 128x192 input


def _feats(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, c, h, w, generator=g) for c, (h, w) in zip(IN_CHANNELS, SIZES))


def _fpn(neck_type: type = FPN, **kwargs) -> FPN:
    torch.manual_seed(0)
    cfg = dict(in_channels=IN_CHANNELS, out_channels=8, start_level=1, num_outs=5)
    fpn = neck_type(**{**cfg, **kwargs})
    fpn.init_weights()
    for m in fpn.modules():  # non-zero biases so that every term shows
        if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
            torch.nn.init.normal_(m.bias, std=0.1)
    return fpn


def _tiny_model(ref, **overrides):
    cfg = ref['meta']['config']
    backbone_cfg = {k: v for k, v in cfg['backbone'].items() if k != 'type'}
    neck_cfg = {k: v for k, v in cfg['neck'].items() if k != 'type'}
    backbone = ResNet(**{**backbone_cfg, **overrides.get('backbone', {})})
    neck = FPN(**{**neck_cfg, **overrides.get('neck', {})})
    state = ref['inputs']['state_dict']
    for prefix, module in (('backbone.', backbone), ('neck.', neck)):
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        module.load_state_dict(part, strict=True)
        assert all(p.dtype == torch.float32 for p in module.parameters())
    return backbone.eval(), neck.eval()


STOCK_WIRING = dict(backbone=dict(out_indices=(0, 1, 2, 3)),
                    neck=dict(in_channels=[16, 32, 64, 128], start_level=1))


@pytest.mark.parametrize('overrides', [{}, STOCK_WIRING], ids=['shipped', 'stock_wiring'])
def test_fpn_features_match_mmdetection(load_ref, overrides):
    ref = load_ref('model_tiny')
    backbone, neck = _tiny_model(ref, **overrides)
    with torch.no_grad():
        feats = neck(backbone(ref['outputs']['batch_inputs']))
    expected = ref['outputs']['fpn_feats']
    assert [f.shape for f in feats] == [e.shape for e in expected]
    for got, want in zip(feats, expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_state_dict_matches_mmdetection_keys():
    expected = [line.split('\t') for line in KEYS.read_text().splitlines()
                if line.startswith('neck.')]
    fpn = MODELS.build(dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
                            start_level=1, add_extra_convs='on_input', num_outs=5))
    got = [[f'neck.{k}', str(list(v.shape))] for k, v in fpn.state_dict().items()]
    assert len(got) == 16 and got == expected


@pytest.mark.parametrize('mode, extra_in', [(False, None), (True, 64), ('on_input', 64),
                                            ('on_lateral', 8), ('on_output', 8)])
def test_extra_levels_shapes(mode, extra_in):
    fpn = _fpn(add_extra_convs=mode)
    outs = fpn(_feats())
    assert [tuple(o.shape) for o in outs] == [
        (2, 8, 16, 24), (2, 8, 8, 12), (2, 8, 4, 6), (2, 8, 2, 3), (2, 8, 1, 2)]
    assert len(fpn.fpn_convs) == (3 if mode is False else 5)
    if extra_in is not None:
        assert fpn.fpn_convs[3].conv.in_channels == extra_in
        assert fpn.fpn_convs[3].conv.stride == (2, 2)


def test_extra_level_sources():
    feats = _feats()
    for mode in ('on_input', 'on_lateral', 'on_output'):
        fpn = _fpn(add_extra_convs=mode)
        outs = fpn(feats)
        source = {'on_input': feats[3], 'on_lateral': fpn.lateral_convs[2](feats[3]),
                  'on_output': outs[2]}[mode]
        torch.testing.assert_close(outs[3], fpn.fpn_convs[3](source))
        torch.testing.assert_close(outs[4], fpn.fpn_convs[4](outs[3]))
    outs = _fpn(add_extra_convs=False)(feats)
    torch.testing.assert_close(outs[3], outs[2][:, :, ::2, ::2])
    torch.testing.assert_close(outs[4], outs[2][:, :, ::4, ::4])


def test_top_down_path_by_hand():
    fpn = _fpn(num_outs=3)
    feats = _feats()
    lat = [conv(f) for conv, f in zip(fpn.lateral_convs, feats[1:])]
    p5 = lat[2]
    p4 = lat[1] + p5.repeat_interleave(2, 2).repeat_interleave(2, 3)
    p3 = lat[0] + p4.repeat_interleave(2, 2).repeat_interleave(2, 3)
    expected = [conv(p) for conv, p in zip(fpn.fpn_convs, (p3, p4, p5))]
    for got, want in zip(fpn(feats), expected):
        torch.testing.assert_close(got, want)


def test_odd_sizes_upsample_to_the_lower_level():
    fpn = _fpn(start_level=0, num_outs=5, add_extra_convs='on_output')
    feats = [torch.randn(1, c, h, w) for c, (h, w) in zip(IN_CHANNELS, [(25, 38), (13, 19),
                                                                        (7, 10), (4, 5)])]
    assert [tuple(o.shape[2:]) for o in fpn(feats)] == [(25, 38), (13, 19), (7, 10), (4, 5),
                                                         (2, 3)]


def test_relu_before_extra_convs_changes_p7_only():
    feats = _feats()
    plain = _fpn(add_extra_convs='on_input')(feats)
    relu = _fpn(add_extra_convs='on_input', relu_before_extra_convs=True)(feats)
    for a, b in zip(plain[:4], relu[:4]):
        torch.testing.assert_close(a, b)
    assert (plain[4] - relu[4]).abs().max() > 1e-3


def test_end_level_norm_and_init():
    fpn = _fpn(start_level=0, end_level=2, num_outs=3,
               norm_cfg=dict(type='GN', num_groups=2), no_norm_on_lateral=True)
    outs = fpn(_feats())
    assert [tuple(o.shape[2:]) for o in outs] == SIZES[:3]
    assert 'lateral_convs.0.conv.bias' in fpn.state_dict()
    assert 'fpn_convs.0.gn.weight' in fpn.state_dict()
    torch.manual_seed(0)
    fresh = FPN(IN_CHANNELS, 8, 5, start_level=1, add_extra_convs='on_input')
    fresh.init_weights()
    w = fresh.fpn_convs[3].conv.weight  # Xavier uniform bound sqrt(6 / (fan_in + fan_out))
    bound = math.sqrt(6 / (64 * 9 + 8 * 9))
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    assert torch.all(fresh.fpn_convs[3].conv.bias == 0)


@pytest.mark.parametrize('kwargs, match', [
    (dict(start_level=4), r'start_level=4 is out of range for 4 input levels'),
    (dict(num_outs=2), r'num_outs=2 is smaller than the 3 input levels'),
    (dict(end_level=2, num_outs=5), r'num_outs must be 2'),
    (dict(end_level=7), r'end_level=7 must be -1 or in 1\.\.3'),
    (dict(add_extra_convs='on_inputs'), r"use False, True or one of .*did you mean 'on_input'"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FPN(**{**dict(in_channels=IN_CHANNELS, out_channels=8, start_level=1, num_outs=5),
               **kwargs})


def test_forward_input_errors():
    fpn = _fpn()
    with pytest.raises(ValueError, match=r'built for 4 input levels .* received 3 feature maps'):
        fpn(_feats()[1:])
    with pytest.raises(ValueError, match=r'input channels \[8, 16, 32, 32\] differ'):
        fpn(_feats()[:3] + (torch.randn(2, 32, 4, 6),))
