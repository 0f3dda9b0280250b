"""The stack of 3×3 convs that dense heads put before their prediction layers."""
from typing import Dict, Optional, Union

from torch import nn

from .conv_module import ConvModule


def conv_tower(in_channels: int, channels: int, depth: int,
               norm_cfg: Optional[Dict] = None, bias: Union[str, bool] = 'auto') -> nn.Sequential:
    """``depth`` × (3×3 conv to ``channels`` [+ norm] + ReLU).

    ``[B, in_channels, H, W]`` → ``[B, channels, H, W]``.

    Modules are numbered ``0 … depth-1`` with MMDetection's inner names
    (``0.conv.weight``, ``0.gn.weight`` …), so a head's ``cls_convs`` /
    ``reg_convs`` load MMDetection checkpoints unchanged. A depth of 0 is
    the identity. ``bias`` is :class:`ConvModule`'s (``'auto'``: a conv bias
    only without norm).
    """
    return nn.Sequential(*(ConvModule(in_channels if i == 0 else channels, channels, 3,
                                      padding=1, norm_cfg=norm_cfg, bias=bias)
                           for i in range(depth)))
