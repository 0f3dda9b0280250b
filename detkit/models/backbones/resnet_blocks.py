"""ResNet's residual blocks, with MMDetection's parameter names.

``conv1``/``bn1``, ``conv2``/``bn2`` (``conv3``/``bn3`` in Bottleneck) and
``downsample.0``/``downsample.1`` (``downsample.1``/``.2`` after the average
pool of ``avg_down``), so torchvision and MMDetection ResNet/ResNeXt
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
    """1×1 → 3×3 → 1×1 (×4 channels) block of ResNet-50/101/152 and ResNeXt.

    ``style='pytorch'`` puts the stride on the 3×3 conv, ``'caffe'`` on the
    first 1×1 conv. ResNeXt's blocks are wider inside (``width`` channels
    between the 1×1 convs instead of ``planes``) and split the 3×3 conv into
    ``groups`` groups; the output stays ``4·planes``.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch',
                 norm_cfg: Dict = dict(type='BN'), groups: int = 1,
                 width: Optional[int] = None) -> None:
        super().__init__()
        width = planes if width is None else width
        stride1, stride2 = (1, stride) if style == 'pytorch' else (stride, 1)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = nn.Conv2d(inplanes, width, 1, stride=stride1, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride2, padding=dilation,
                               dilation=dilation, groups=groups, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
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
                   stride: int, dilation: int, style: str, norm_cfg: Dict,
                   avg_down: bool = False, **block_kwargs) -> nn.Sequential:
    """One ResNet stage: ``num_blocks`` blocks, the first one strided.

    The first block gets a ``downsample`` shortcut when the stride or the
    channel count changes: a strided 1×1 conv + norm, or with ``avg_down``
    (ResNet-D) an average pool of the stride followed by a 1×1 conv + norm,
    so that the shortcut sees every input pixel. The pool is there even at
    stride 1 (as a 1×1 identity pool) to keep MMDetection's parameter names.
    ``block_kwargs`` go to every block (ResNeXt's ``groups``, ``width``).
    """
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_channels:
        layers = [nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
                  ] if avg_down else []
        layers += [nn.Conv2d(inplanes, out_channels, 1, stride=1 if avg_down else stride,
                             bias=False),
                   build_norm_layer(norm_cfg, out_channels)[1]]
        downsample = nn.Sequential(*layers)
    blocks = [block(inplanes, planes, stride, dilation, downsample, style, norm_cfg,
                    **block_kwargs)]
    blocks += [block(out_channels, planes, 1, dilation, None, style, norm_cfg, **block_kwargs)
               for _ in range(1, num_blocks)]
    return nn.Sequential(*blocks)
