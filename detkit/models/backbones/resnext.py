"""ResNeXt backbone (Xie et al., 2017) with MMDetection's parameter names."""
import math
from typing import Dict

from detkit.registry import MODELS
from .resnet import ResNet
from .resnet_blocks import Bottleneck


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNet whose Bottleneck 3×3 convs are split into ``groups`` groups.

    A stage with ``planes`` planes has ``floor(planes · base_width /
    base_channels) · groups`` channels inside each block (``conv1``,
    ``conv2`` and their norms) and ``4·planes`` outputs, as in MMDetection's
    ``ResNeXt``: ``depth=101, groups=64, base_width=4`` is ResNeXt-101
    64x4d (block widths 256, 512, 1024, 2048), whose MMDetection and
    torchvision (``resnext101_64x4d``) checkpoints load unchanged. With
    ``groups=1`` the blocks are ResNet's.

    Args:
        depth: 50, 101 or 152.
        groups: groups of every 3×3 conv (the cardinality).
        base_width: channels per group in the first stage, for
            ``base_channels=64``.
        **kwargs: :class:`ResNet`'s arguments (``base_channels``,
            ``out_indices``, ``frozen_stages``, ``style``, ``init_cfg`` …).

    Shapes: as :class:`ResNet`, ``[B, 3, H, W]`` → per stage in ``out_indices``
    ``[B, 256·2^i, H / 2^(i+2), W / 2^(i+2)]`` (with ``base_channels=64``).
    """

    arch_settings = {depth: setting for depth, setting in ResNet.arch_settings.items()
                     if setting[0] is Bottleneck}

    def __init__(self, depth: int, groups: int = 1, base_width: int = 4, **kwargs) -> None:
        if not (isinstance(groups, int) and groups >= 1):
            raise ValueError(f'ResNeXt groups must be a positive int, got {groups!r}')
        if not (isinstance(base_width, int) and base_width >= 1):
            raise ValueError(f'ResNeXt base_width must be a positive int, got {base_width!r}')
        # read by _block_kwargs while ResNet.__init__ builds the stages
        self.groups = groups
        self.base_width = base_width
        super().__init__(depth, **kwargs)

    def _block_kwargs(self, planes: int) -> Dict:
        """``groups`` and the inner ``width`` of the blocks of a ``planes`` stage."""
        if self.groups == 1:
            return {}
        return dict(groups=self.groups,
                    width=math.floor(planes * self.base_width / self.base_channels) * self.groups)
