import pytest
import torch
from torch import nn

from detkit.models.backbones import ResNet, ResNetV1d
from detkit.registry import MODELS


def test_v1d50_names_shapes_and_size():
    model = MODELS.build(dict(type='ResNetV1d', depth=50))
    state = model.state_dict()
    stem = [(k, list(v.shape)) for k, v in state.items() if k.startswith('stem.')
            and k.endswith('weight')]
    assert stem == [('stem.0.weight', [32, 3, 3, 3]), ('stem.1.weight', [32]),
                    ('stem.3.weight', [32, 32, 3, 3]), ('stem.4.weight', [32]),
                    ('stem.6.weight', [64, 32, 3, 3]), ('stem.7.weight', [64])]
    assert 'conv1.weight' not in state and 'bn1.weight' not in state
    # the shortcut conv sits behind the pool, in every stage (layer1's pool is 1x1)
    assert list(state['layer1.0.downsample.1.weight'].shape) == [256, 64, 1, 1]
    assert list(state['layer4.0.downsample.2.running_var'].shape) == [2048]
    assert 'layer2.0.downsample.0.weight' not in state
    # mmpretrain's ResNetV1d-50: 25.58 M parameters with its 2048x1000 classifier
    assert sum(p.numel() for p in model.parameters()) + 2048 * 1000 + 1000 == 25_576_264
    assert len(state) == 318 + 2 * 6  # ResNet-50's entries + two more conv + BN pairs


def test_deep_stem_and_avg_down_shapes():
    model = ResNetV1d(18, base_channels=8).eval()
    assert [m.stride for m in model.stem if isinstance(m, nn.Conv2d)] == [(2, 2), (1, 1), (1, 1)]
    pool = model.layer2[0].downsample[0]
    assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2 and pool.ceil_mode
    assert model.layer2[0].downsample[1].stride == (1, 1)
    outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (2, 8 * 2 ** i, 64 // s, 96 // s) for i, s in enumerate((4, 8, 16, 32))]
    assert model.out_channels == [8, 16, 32, 64]


def test_avg_down_averages_only_real_pixels_at_odd_sizes():
    pool = ResNetV1d(18, base_channels=8).layer3[0].downsample[0]
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    out = pool(x)
    assert out.shape == (1, 1, 3, 3)  # ceil_mode: the 5th row and column are kept
    assert out[0, 0, 0, 0] == (0 + 1 + 5 + 6) / 4
    assert out[0, 0, 2, 2] == 24  # a 1-pixel window: padding is not counted


def test_frozen_stem_and_stem_channels():
    model = ResNetV1d(50, base_channels=8, stem_channels=32, frozen_stages=0).train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not model.stem[1].training and model.layer1[0].bn1.training is False  # norm_eval
    assert all(p.requires_grad for p in model.layer1.parameters())
    assert model.stem[6].out_channels == 32 and model.layer1[0].conv1.in_channels == 32


def test_plain_resnet_with_the_same_switches_is_identical():
    torch.manual_seed(0)
    v1d = ResNetV1d(18, base_channels=8)
    torch.manual_seed(0)
    resnet = ResNet(18, base_channels=8, deep_stem=True, avg_down=True)
    for (k1, a), (k2, b) in zip(v1d.state_dict().items(), resnet.state_dict().items()):
        assert k1 == k2 and torch.equal(a, b)


def test_fixed_switches_cannot_be_configured():
    with pytest.raises(TypeError, match='always has deep_stem=True and avg_down=True; '
                                        'remove avg_down, deep_stem'):
        ResNetV1d(50, deep_stem=False, avg_down=False)
