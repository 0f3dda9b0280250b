import pytest
import torch
from torch import nn

from detkit.models.necks import FPN, PAFPN
from detkit.registry import MODELS
from test_fpn import SIZES, _feats, _fpn  # the FPN tests' inputs: C2..C5 of a 128x192 image


def _pafpn(**kwargs) -> PAFPN:
    """A PAFPN over all four inputs by default, initialised, with non-zero biases."""
    return _fpn(PAFPN, **{'start_level': 0, **kwargs})


def test_state_dict_names_as_mmdetection():
    # MMDetection's PAFPN of faster-rcnn_r50_pafpn_1x_coco
    neck = MODELS.build(dict(type='PAFPN', in_channels=[256, 512, 1024, 2048],
                             out_channels=256, num_outs=5))
    expected = []
    for group, count, in_ch in (('lateral_convs', 4, [256, 512, 1024, 2048]),
                                ('fpn_convs', 4, [256] * 4), ('downsample_convs', 3, [256] * 3),
                                ('pafpn_convs', 3, [256] * 3)):
        k = 1 if group == 'lateral_convs' else 3
        for i in range(count):
            expected += [(f'{group}.{i}.conv.weight', [256, in_ch[i], k, k]),
                         (f'{group}.{i}.conv.bias', [256])]
    assert [(k, list(v.shape)) for k, v in neck.state_dict().items()] == expected
    assert [m.conv.stride for m in neck.downsample_convs] == [(2, 2)] * 3
    # Faster R-CNN's FPN (3,344,384) plus six 3x3 256-channel convs
    assert sum(p.numel() for p in neck.parameters()) == 3_344_384 + 6 * (256 * 256 * 9 + 256)


def test_bottom_up_path_by_hand():
    neck = _pafpn(num_outs=4)
    feats = _feats()
    with torch.no_grad():
        lat = [conv(f) for conv, f in zip(neck.lateral_convs, feats)]
        for i in (2, 1, 0):
            lat[i] = lat[i] + lat[i + 1].repeat_interleave(2, 2).repeat_interleave(2, 3)
        n = [conv(x) for conv, x in zip(neck.fpn_convs, lat)]
        n[1] = n[1] + neck.downsample_convs[0](n[0])
        n[2] = n[2] + neck.downsample_convs[1](n[1])  # the updated n[1]: the sum travels up
        n[3] = n[3] + neck.downsample_convs[2](n[2])
        expected = [n[0]] + [conv(x) for conv, x in zip(neck.pafpn_convs, n[1:])]
        outs = neck(feats)
    assert len(outs) == 4
    for got, want in zip(outs, expected):
        torch.testing.assert_close(got, want)


def test_an_identity_bottom_up_path_gives_fpn():
    kwargs = dict(in_channels=[8, 16, 32, 64], out_channels=8, start_level=1, num_outs=5,
                  add_extra_convs='on_output')
    torch.manual_seed(0)
    fpn = FPN(**kwargs)
    pafpn = PAFPN(**kwargs)
    pafpn.load_state_dict(fpn.state_dict(), strict=False)
    for down, conv in zip(pafpn.downsample_convs, pafpn.pafpn_convs):
        nn.init.zeros_(down.conv.weight), nn.init.zeros_(down.conv.bias)
        nn.init.dirac_(conv.conv.weight), nn.init.zeros_(conv.conv.bias)
    feats = _feats()
    with torch.no_grad():
        for got, want in zip(pafpn(feats), fpn(feats)):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize('mode', ['on_input', 'on_output', False])
def test_extra_levels(mode):
    neck = _pafpn(start_level=1, add_extra_convs=mode)
    feats = _feats()
    with torch.no_grad():
        outs = neck(feats)
        assert [tuple(o.shape) for o in outs] == [
            (2, 8, 16, 24), (2, 8, 8, 12), (2, 8, 4, 6), (2, 8, 2, 3), (2, 8, 1, 2)]
        assert len(neck.downsample_convs) == len(neck.pafpn_convs) == 2
        if mode is False:
            torch.testing.assert_close(outs[3], outs[2][:, :, ::2, ::2])
        else:
            source = feats[3] if mode == 'on_input' else outs[2]  # the bottom-up P5
            torch.testing.assert_close(outs[3], neck.fpn_convs[3](source))


def test_norm_on_every_conv_and_end_level():
    neck = _pafpn(start_level=0, end_level=2, num_outs=3,
                  norm_cfg=dict(type='GN', num_groups=2))
    keys = neck.state_dict()
    assert 'downsample_convs.1.gn.weight' in keys and 'pafpn_convs.1.gn.bias' in keys
    assert 'downsample_convs.2.conv.weight' not in keys
    assert [tuple(o.shape[2:]) for o in neck(_feats())] == SIZES[:3]


def test_forward_input_errors():
    with pytest.raises(ValueError, match=r'input channels \[8, 16, 32, 32\] differ'):
        _pafpn()(_feats()[:3] + (torch.randn(2, 32, 4, 6),))
