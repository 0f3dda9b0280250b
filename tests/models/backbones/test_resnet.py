import math
from pathlib import Path

import pytest
import torch
import torchvision
from mmengine.model import BaseModule
from torch import nn

from detkit.models.backbones import ResNet
from detkit.registry import MODELS

KEYS = Path(__file__).parents[2] / 'data' / 'mmdet_retinanet_r50_state_dict_keys.txt'


def _randomize_bn(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN parameters and statistics, so that loading them shows."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) * 0.6 + 0.5
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) * 0.8 + 0.6


def _bn_stats(module: nn.Module) -> list:
    return [b.clone() for n, b in module.named_buffers() if 'running' in n]


def test_r50_state_dict_matches_mmdetection_keys():
    expected = [line.split('\t') for line in KEYS.read_text().splitlines()
                if line.startswith('backbone.')]
    model = MODELS.build(dict(type='ResNet', depth=50, frozen_stages=1))
    got = [[f'backbone.{k}', str(list(v.shape))] for k, v in model.state_dict().items()]
    assert len(got) == 318 and got == expected  # BN buffers and num_batches_tracked included
    assert sum(p.numel() for p in model.parameters()) == 23_508_032  # torchvision R50 minus fc


@pytest.mark.parametrize('depth, channels', [(18, [8, 16, 32, 64]), (50, [32, 64, 128, 256])])
def test_output_shapes(depth, channels):
    model = ResNet(depth, base_channels=8).eval()
    outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 64 // s, 96 // s) for c, s in zip(channels, (4, 8, 16, 32))]
    assert model.stage_channels == channels


def test_out_indices_subset_and_num_stages():
    outs = ResNet(18, base_channels=8, out_indices=[3, 1]).eval()(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 8, 8), (1, 64, 2, 2)]  # stage order
    model = ResNet(34, base_channels=8, num_stages=3, out_indices=(2,))
    assert not hasattr(model, 'layer4')
    assert model.eval()(torch.randn(1, 3, 64, 64))[0].shape == (1, 32, 4, 4)


def test_style_puts_the_stride_on_the_right_conv():
    pytorch = ResNet(50, base_channels=8).layer2[0]
    caffe = ResNet(50, base_channels=8, style='caffe').layer2[0]
    assert (pytorch.conv1.stride, pytorch.conv2.stride) == ((1, 1), (2, 2))
    assert (caffe.conv1.stride, caffe.conv2.stride) == ((2, 2), (1, 1))
    assert caffe.downsample[0].stride == (2, 2)


def test_caffe_r50_matches_mmdetections_fcos_backbone(mmdet_keys):
    header, entries = mmdet_keys('fcos_r50-caffe_fpn_gn-head_1x_coco')
    model = MODELS.build(dict(type='ResNet', depth=50, frozen_stages=1, style='caffe',
                              norm_cfg=dict(type='BN', requires_grad=False)))
    expected = [(k, shape) for k, shape in entries if k.startswith('backbone.')]
    assert [(f'backbone.{k}', list(v.shape)) for k, v in model.state_dict().items()] == expected
    # every FCOS parameter outside the backbone trains: the rest of the trainable count is ours
    others = sum(math.prod(shape) for k, shape in entries if not k.startswith('backbone.'))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == int(header['trainable']) - others == 23_232_512
    assert not any(p.requires_grad for m in model.modules() if isinstance(m, nn.BatchNorm2d)
                   for p in m.parameters())


def test_out_channels_follow_out_indices():
    assert ResNet(50, base_channels=8, out_indices=(3, 1)).out_channels == [64, 256]
    assert ResNet(18, out_indices=(0, 1, 2, 3)).out_channels == [64, 128, 256, 512]


def test_dilation_keeps_the_resolution():
    model = ResNet(18, base_channels=8, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)).eval()
    assert model.layer4[1].conv1.dilation == (2, 2)
    assert model(torch.randn(1, 3, 64, 64))[3].shape == (1, 64, 4, 4)


def test_frozen_stages_and_norm_eval():
    model = ResNet(18, base_channels=8, frozen_stages=1, norm_eval=False)
    frozen = [model.conv1, model.bn1, model.layer1]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    model.train()
    assert not model.bn1.training and not model.layer1[0].bn1.training
    assert model.layer2[0].bn1.training
    before1, before2 = _bn_stats(model.layer1), _bn_stats(model.layer2)
    model(torch.randn(2, 3, 32, 32) * 3 + 1)
    assert all(torch.equal(a, b) for a, b in zip(before1, _bn_stats(model.layer1)))
    assert not torch.equal(before2[0], _bn_stats(model.layer2)[0])

    model = ResNet(18, base_channels=8, norm_eval=True).train()
    assert model.training and not any(
        m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = _bn_stats(model)
    model(torch.randn(2, 3, 32, 32) * 3 + 1)
    assert all(torch.equal(a, b) for a, b in zip(before, _bn_stats(model)))


def test_group_norm_and_sync_bn():
    gn_cfg = dict(type='GN', num_groups=4, requires_grad=True)
    model = ResNet(50, base_channels=8, norm_cfg=gn_cfg, out_indices=(3,)).train()
    keys = model.state_dict()
    assert {'gn1.weight', 'layer1.0.gn3.weight', 'layer1.0.downsample.1.weight'} <= set(keys)
    assert not any('bn' in k or 'running' in k for k in keys)
    assert isinstance(model.layer1[0].downsample[1], nn.GroupNorm)
    assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 256, 2, 2)
    sync = ResNet(18, base_channels=8, norm_cfg=dict(type='SyncBN')).train()
    assert isinstance(sync.layer1[0].bn1, nn.SyncBatchNorm) and not sync.layer1[0].bn1.training


def test_default_init_weights():
    torch.manual_seed(0)
    model = ResNet(50, base_channels=16)
    model.init_weights()
    assert model.is_init
    assert torch.all(model.layer1[0].bn3.weight == 0) and torch.all(model.layer1[0].bn1.weight == 1)
    assert torch.all(model.layer1[0].downsample[1].weight == 1)
    assert torch.all(model.bn1.bias == 0)
    w = model.layer2[0].conv2.weight  # [32, 32, 3, 3], fan_out = 32 * 9
    assert w.std().item() == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.05)
    basic = ResNet(18, base_channels=8)
    basic.init_weights()
    assert torch.all(basic.layer3[1].bn2.weight == 0) and torch.all(basic.layer3[1].bn1.weight == 1)
    keep = ResNet(18, base_channels=8, zero_init_residual=False)
    keep.init_weights()
    assert torch.all(keep.layer3[1].bn2.weight == 1)


def _torchvision_resnet18_file(tmp_path, wrap=None, prefix=''):
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None)
    _randomize_bn(tv)
    state = {prefix + k: v for k, v in tv.state_dict().items()}
    path = tmp_path / 'r18.pth'
    torch.save(state if wrap is None else {wrap: state, 'meta': {}}, path)
    return tv.eval(), path


def _torchvision_layer4(tv, x):
    x = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
    return tv.layer4(tv.layer3(tv.layer2(tv.layer1(x))))


@pytest.mark.parametrize('wrap, prefix', [(None, ''), ('state_dict', 'backbone.'),
                                          ('model', 'module.')])
def test_pretrained_torchvision_file(tmp_path, wrap, prefix):
    tv, path = _torchvision_resnet18_file(tmp_path, wrap, prefix)
    model = ResNet(18, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x)[3], _torchvision_layer4(tv, x))


def test_pretrained_through_mmengine_parent_init(tmp_path):
    tv, path = _torchvision_resnet18_file(tmp_path)

    class Detector(BaseModule):
        def __init__(self):
            super().__init__()
            self.backbone = ResNet(18, frozen_stages=1,
                                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))

    det = Detector()
    det.init_weights()
    assert torch.equal(det.backbone.layer3[1].bn2.running_var, tv.layer3[1].bn2.running_var)
    assert torch.equal(det.backbone.conv1.weight, tv.conv1.weight)
    assert not det.backbone.conv1.weight.requires_grad


def test_pretrained_errors(tmp_path):
    _, path = _torchvision_resnet18_file(tmp_path)
    with pytest.raises(RuntimeError, match=r"r18\.pth.*missing keys \(\d+\): layer1\.2\."):
        ResNet(34, init_cfg=dict(type='Pretrained', checkpoint=str(path))).init_weights()
    with pytest.raises(RuntimeError, match=r'shape mismatches \(\d+\): conv1\.weight: file '
                                           r'\[64, 3, 7, 7\] vs model \[32, 3, 7, 7\]'):
        ResNet(18, base_channels=32).load_torchvision_checkpoint(path)
    missing = tmp_path / 'nowhere' / 'resnet50.pth'
    with pytest.raises(FileNotFoundError, match=r'nowhere/resnet50\.pth.*no download'):
        ResNet(18, init_cfg=dict(type='Pretrained', checkpoint=str(missing))).init_weights()


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(depth=20), KeyError, r'valid depths are \[18, 34, 50, 101, 152\]'),
    (dict(depth=18, out_indices=(4,)), ValueError, 'out_indices'),
    (dict(depth=18, frozen_stages=5), ValueError, 'frozen_stages'),
    (dict(depth=18, style='tf'), ValueError, "'pytorch' or 'caffe'"),
    (dict(depth=18, strides=(1, 2)), ValueError, 'a stride and a dilation per stage'),
])
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ResNet(**kwargs)
