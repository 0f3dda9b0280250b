"""ResNet backbone (18/34/50/101/152) with MMDetection's parameter names."""
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from detkit.registry import MODELS
from ..layers import build_norm_layer
from .base_backbone import BaseBackbone
from .pretrained_file import load_exactly, read_state_dict
from .resnet_blocks import BasicBlock, Bottleneck, make_res_layer

_DROPPED = ('fc.',)  # the ImageNet classifier of torchvision checkpoints


@MODELS.register_module()
class ResNet(BaseBackbone):
    """ResNet returning the stage outputs C2..C5 named by ``out_indices``.

    Parameter names follow MMDetection (``conv1``, ``bn1``,
    ``layer1.0.conv1``, ``layer1.0.downsample.0`` …), which are also
    torchvision's, so either framework's weights load unchanged.

    Args:
        depth: 18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck).
        in_channels: channels of the input image.
        stem_channels: stem width; ``None`` means ``base_channels``.
        base_channels: stage ``i`` has ``base_channels·2^i`` planes (×4
            outputs for Bottleneck).
        num_stages: how many of the four stages to build (1..4).
        strides, dilations: per stage; the first ``num_stages`` are used.
        out_indices: stages whose outputs are returned, 0-based.
        style: ``'pytorch'`` (stride on the 3×3 conv) or ``'caffe'``
            (stride on the first 1×1 conv of a Bottleneck).
        deep_stem: three 3×3 convs (``stem.0``, ``stem.3``, ``stem.6`` with
            norms ``stem.1/4/7``) instead of the 7×7 ``conv1``, as ResNetV1c/d.
        avg_down: downsampling shortcuts average-pool first, then a stride-1
            1×1 conv (``downsample.1``, norm ``downsample.2``), as ResNetV1d.
        frozen_stages: freeze the stem (0) and stages ``1..frozen_stages``:
            no gradients, norms kept in eval mode. ``-1`` freezes nothing.
        norm_cfg: norm layer config, e.g. ``dict(type='GN', num_groups=32)``.
        norm_eval: keep every BatchNorm in eval mode (running statistics,
            no updates) even in ``train()``.
        zero_init_residual: ``init_weights()`` zeroes the last norm weight
            of each block, so that each block starts as the identity.
        init_cfg: ``None`` (Kaiming conv, unit norms), or
            ``dict(type='Pretrained', checkpoint='file.pth')`` to load a
            torchvision-format ResNet state-dict file (a local path, or
            ``torchvision://resnet50`` / a URL, downloaded once and cached),
            or other mmengine init configs.

    Shapes: ``[B, in_channels, H, W]`` → tuple of
    ``[B, C_i, H / 2^(i+2), W / 2^(i+2)]`` for ``i`` in ``out_indices`` (with
    the default strides and dilations).
    """

    arch_settings = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
                     50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3)),
                     152: (Bottleneck, (3, 8, 36, 3))}

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: Optional[int] = None,
                 base_channels: int = 64, num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3), style: str = 'pytorch',
                 deep_stem: bool = False, avg_down: bool = False, frozen_stages: int = -1,
                 norm_cfg: Dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True, zero_init_residual: bool = True,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._check_args(depth, num_stages, strides, dilations, out_indices, style,
                         frozen_stages)
        self.depth = depth
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.out_indices = tuple(out_indices)
        self.deep_stem = deep_stem
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual

        stem_channels = base_channels if stem_channels is None else stem_channels
        if deep_stem:
            self.stem = _deep_stem(in_channels, stem_channels, norm_cfg)
        else:
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3,
                                   bias=False)
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        block, stage_blocks = self.arch_settings[depth]
        inplanes = stem_channels
        self.res_layers: List[str] = []
        self.stage_channels: List[int] = []
        for i in range(num_stages):
            planes = base_channels * 2 ** i
            layer = make_res_layer(block, inplanes, planes, stage_blocks[i], strides[i],
                                   dilations[i], style, norm_cfg, avg_down,
                                   **self._block_kwargs(planes))
            inplanes = planes * block.expansion
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
            self.stage_channels.append(inplanes)
        # frozen stages and norm_eval hold from construction on, not only after .train()
        self.train(self.training)

    def _block_kwargs(self, planes: int) -> Dict:
        """Extra block arguments of a stage with ``planes`` planes (none for ResNet)."""
        return {}

    def _check_args(self, depth, num_stages, strides, dilations, out_indices, style,
                    frozen_stages) -> None:
        name = type(self).__name__
        if depth not in self.arch_settings:
            raise KeyError(f'{name} depth {depth!r} is not supported; '
                           f'valid depths are {sorted(self.arch_settings)}')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'{name} num_stages must be 1..4, got {num_stages}')
        if len(strides) < num_stages or len(dilations) < num_stages:
            raise ValueError(f'{name} needs a stride and a dilation per stage: '
                             f'num_stages={num_stages}, strides={tuple(strides)}, '
                             f'dilations={tuple(dilations)}')
        bad = [i for i in out_indices if not 0 <= i < num_stages]
        if bad or not out_indices:
            raise ValueError(f'{name} out_indices {tuple(out_indices)} must be non-empty '
                             f'stage indices in 0..{num_stages - 1} (num_stages={num_stages})')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"{name} style must be 'pytorch' or 'caffe', got {style!r}")
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'{name} frozen_stages must be -1..{num_stages}, '
                             f'got {frozen_stages}')

    @property
    def norm1(self) -> nn.Module:
        """The stem's norm layer (``bn1`` or ``gn1``; not with ``deep_stem``)."""
        return getattr(self, self.norm1_name)

    @property
    def out_channels(self) -> List[int]:
        """Channels of each returned feature map, in output order (a neck's in_channels)."""
        return [c for i, c in enumerate(self.stage_channels) if i in self.out_indices]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """``[B, C, H, W]`` → the outputs of the stages in ``out_indices``."""
        x = self.stem(x) if self.deep_stem else self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        """The stem and stages ``1..frozen_stages`` (none for ``-1``)."""
        if self.frozen_stages < 0:
            return []
        stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
        return stem + [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]

    def _default_init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)) and m.last_norm.weight is not None:
                    nn.init.zeros_(m.last_norm.weight)

    def load_torchvision_checkpoint(self, path: Union[str, os.PathLike]) -> None:
        """Load a torchvision-format ResNet state-dict file into this module.

        The file may hold the state dict itself or wrap it in ``'state_dict'``
        or ``'model'``; key prefixes ``module.``/``backbone.`` are stripped and
        the classifier ``fc.*`` dropped; from a detector checkpoint only the
        ``backbone.*`` keys are used. Everything else must match exactly
        (missing ``num_batches_tracked`` of old files is tolerated).

        Raises:
            FileNotFoundError: ``path`` does not exist (no download is tried).
            RuntimeError: the file does not fit this ResNet; the message lists
                missing, unexpected and shape-mismatched keys.
        """
        load_exactly(self, read_state_dict(path, _DROPPED), path,
                     f'{type(self).__name__}-{self.depth} (stage widths {self.stage_channels})')


def _deep_stem(in_channels: int, stem_channels: int, norm_cfg: Dict) -> nn.Sequential:
    """Three 3×3 convs (the first strided) with norms and ReLUs: ``stem.0`` … ``stem.8``."""
    half = stem_channels // 2
    layers = []
    for i, (c_in, c_out) in enumerate(((in_channels, half), (half, half),
                                       (half, stem_channels))):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2 if i == 0 else 1, padding=1, bias=False),
                   build_norm_layer(norm_cfg, c_out)[1], nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)
