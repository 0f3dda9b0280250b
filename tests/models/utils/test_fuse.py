"""fuse_conv_bn folds BN into convs: same outputs up to float32 rounding, BN gone."""
import torch
from torch import nn

from detkit.models.backbones import ResNet
from detkit.models.utils import fuse_conv_bn


def _resnet() -> ResNet:
    torch.manual_seed(0)
    model = ResNet(depth=18, zero_init_residual=False)
    model.init_weights()
    for m in model.modules():  # non-trivial statistics and affine parameters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_fused_resnet_gives_the_same_features_without_batchnorm():
    model = _resnet()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        fuse_conv_bn(model)
        got = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_fusion_keeps_the_channels_last_format():
    model = _resnet().to(memory_format=torch.channels_last)
    fuse_conv_bn(model)
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.conv1.bias is not None and not model.conv1.weight.requires_grad


def test_a_batchnorm_after_a_non_conv_is_left_alone():
    seq = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).eval()
    fuse_conv_bn(seq)
    assert isinstance(seq[1], nn.BatchNorm1d)
