import math
from pathlib import Path

import pytest
import torch
import torchvision
from mmengine.config import Config

from detkit.models.backbones import ResNet, ResNeXt
from detkit.registry import MODELS

ROOT = Path(__file__).parents[3]
X101 = 'retinanet_x101-64x4d_fpn_1x_coco'


@pytest.fixture(scope='module')
def x101_model():
    """The config's model, built once (ResNeXt-101 takes ~1.5 s), without pretrained weights."""
    cfg = Config.fromfile(str(ROOT / 'configs' / 'retinanet' / f'{X101}.py'))
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


def test_x101_config_matches_mmdetection_names_shapes_and_counts(x101_model, mmdet_keys):
    header, expected = mmdet_keys(X101)
    got = [(k, list(v.shape)) for k, v in x101_model.state_dict().items()]
    assert len(got) == int(header['entries']) == 660
    assert got == expected
    params = list(x101_model.parameters())
    assert sum(p.numel() for p in params) == int(header['parameters']) == 95_866_932
    assert sum(p.numel() for p in params if p.requires_grad) == int(header['trainable'])
    assert sum(v.numel() for v in x101_model.state_dict().values()) == int(
        header['state_dict_values'])
    assert x101_model.backbone.out_channels == [256, 512, 1024, 2048]


def test_x101_loads_an_mmdetection_state_dict_strictly(x101_model, mmdet_keys):
    _, entries = mmdet_keys(X101)
    # a distinct value per entry, broadcast (no 96M-value copy) so that every name lands once
    state = {k: torch.tensor(float(i)).expand(shape) if 'num_batches' not in k
             else torch.tensor(i) for i, (k, shape) in enumerate(entries)}
    x101_model.load_state_dict(state, strict=True)
    own = x101_model.state_dict()
    for i in (0, 331, 659):
        key = entries[i][0]
        assert torch.all(own[key] == i), key
    assert own['backbone.layer3.22.conv2.weight'].shape == (1024, 16, 3, 3)  # 64 groups of 16
    del state['bbox_head.retina_reg.bias']
    with pytest.raises(RuntimeError, match='Missing key.*bbox_head.retina_reg.bias'):
        x101_model.load_state_dict(state, strict=True)


def _randomize_bn(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) * 0.6 + 0.5
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) * 0.8 + 0.6


def test_resnext50_32x4d_computes_torchvisions_model(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.resnext50_32x4d(weights=None)
    _randomize_bn(tv)
    path = tmp_path / 'resnext50.pth'
    torch.save(tv.state_dict(), path)
    ours = ResNeXt(50, groups=32, base_width=4,
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    ours.init_weights()
    assert ours.layer1[0].conv2.weight.shape == (128, 4, 3, 3)  # floor(64 * 4 / 64) * 32
    x = torch.randn(1, 3, 64, 64)
    tv.eval(), ours.eval()
    with torch.no_grad():
        c = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        expected = []
        for layer in (tv.layer1, tv.layer2, tv.layer3, tv.layer4):
            c = layer(c)
            expected.append(c)
        for got, want in zip(ours(x), expected):
            torch.testing.assert_close(got, want)


def test_widths_follow_base_channels_and_groups():
    model = ResNeXt(50, groups=4, base_width=4, base_channels=8, out_indices=(0, 3)).eval()
    # stage i: planes 8·2^i, width floor(planes · 4 / 8) · 4 = 16·2^i, outputs 32·2^i
    for i, layer in enumerate((model.layer1, model.layer2, model.layer3, model.layer4)):
        conv2 = layer[0].conv2
        assert (conv2.in_channels, conv2.out_channels, conv2.groups) == (16 * 2 ** i,) * 2 + (4,)
        assert layer[0].conv3.out_channels == 32 * 2 ** i
        assert layer[0].bn1.num_features == 16 * 2 ** i
    outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 16, 24), (2, 256, 2, 3)]
    assert model.out_channels == [32, 256]


def test_groups_1_is_resnet():
    plain = ResNeXt(50, groups=1, base_channels=8)
    resnet = ResNet(50, base_channels=8)
    assert [(k, v.shape) for k, v in plain.state_dict().items()] == [
        (k, v.shape) for k, v in resnet.state_dict().items()]
    assert plain.layer3[0].conv2.groups == 1


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(depth=18), KeyError, r'ResNeXt depth 18 is not supported; valid depths are '
                               r'\[50, 101, 152\]'),
    (dict(depth=50, groups=0), ValueError, 'ResNeXt groups must be a positive int, got 0'),
    (dict(depth=50, base_width=2.5), ValueError, 'base_width must be a positive int'),
    (dict(depth=50, style='tf'), ValueError, "ResNeXt style must be 'pytorch' or 'caffe'"),
])
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ResNeXt(**kwargs)


def test_registered_and_caffe_style():
    model = MODELS.build(dict(type='ResNeXt', depth=50, groups=8, base_width=2,
                              base_channels=16, style='caffe'))
    assert isinstance(model, ResNeXt)
    block = model.layer2[0]
    assert (block.conv1.stride, block.conv2.stride) == ((2, 2), (1, 1))
    assert block.conv2.groups == 8 and block.conv2.out_channels == math.floor(32 * 2 / 16) * 8
