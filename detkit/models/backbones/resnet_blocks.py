"""ResNet's residual blocks, with MMDetection's parameter names.

``conv1``/``bn1``, ``conv2``/``bn2`` (``conv3``/``bn3`` in Bottleneck) and
``downsample.0``/``downsample.1``, so torchvision and MMDetection ResNet
checkpoints load unchanged. With a GN ``norm_cfg`` the norms are ``gn1`` ….
"""
from typing import Dict, Optional

from torch import Tensor, nn

from ..layers import build_norm_layer


class BasicBlock(nn.Module):
    """Two 3×3 convs (ResNet-18/34); the stride sits on the first one.

    ``style`` is accepted for symmetry with :class:`Bottleneck` and ignored.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch',
                 norm_cfg: Dict = dict(type='BN')) -> None:
        super().__init__()
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        """The norm closing the residual branch (zeroed by zero_init_residual)."""
        return getattr(self, self.norm2_name)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, inplanes, H, W]`` → ``[B, planes, H/stride, W/stride]``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        out = getattr(self, self.norm2_name)(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 channels) block of ResNet-50/101/152.

    ``style='pytorch'`` puts the stride on the 3×3 conv, ``'caffe'`` on the
    first 1×1 conv.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch',
                 norm_cfg: Dict = dict(type='BN')) -> None:
        super().__init__()
        stride1, stride2 = (1, stride) if style == 'pytorch' else (stride, 1)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride1, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride2, padding=dilation,
                               dilation=dilation, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        """The norm closing the residual branch (zeroed by zero_init_residual)."""
        return getattr(self, self.norm3_name)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, inplanes, H, W]`` → ``[B, 4·planes, H/stride, W/stride]``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        out = self.relu(getattr(self, self.norm2_name)(self.conv2(out)))
        out = getattr(self, self.norm3_name)(self.conv3(out))
        return self.relu(out + identity)


def make_res_layer(block: type, inplanes: int, planes: int, num_blocks: int,
                   stride: int, dilation: int, style: str, norm_cfg: Dict) -> nn.Sequential:
    """One ResNet stage: ``num_blocks`` blocks, the first one strided.

    The first block gets a ``downsample`` (1×1 conv + norm) when the stride
    or the channel count changes.
    """
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out_channels, 1, stride=stride, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1])
    blocks = [block(inplanes, planes, stride, dilation, downsample, style, norm_cfg)]
    blocks += [block(out_channels, planes, 1, dilation, None, style, norm_cfg)
               for _ in range(1, num_blocks)]
    return nn.Sequential(*blocks)
