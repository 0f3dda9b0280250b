"""Conv + optional norm + optional activation, with MMDetection's names."""
from typing import Dict, Optional, Tuple, Union

from torch import Tensor, nn

from .norm import build_activation_layer, build_conv_layer, build_norm_layer


class ConvModule(nn.Module):
    """``conv`` (``nn.Conv2d`` unless ``conv_cfg`` says otherwise) → norm → activation.

    Parameter names match mmcv's ConvModule (``conv.weight``, ``bn.weight``
    or ``gn.weight``) so MMDetection checkpoints load unchanged. The conv has
    a bias only when there is no norm layer, unless ``bias`` says otherwise.

    Args:
        in_channels, out_channels, kernel_size, stride, padding: as ``nn.Conv2d``.
        norm_cfg: e.g. ``dict(type='GN', num_groups=32)``; ``None`` for none.
        act_cfg: e.g. ``dict(type='ReLU')``; ``None`` for none.
        bias: ``'auto'`` (bias iff no norm) or a bool.
        inplace: for the activations that have the option.
        dilation, groups: as ``nn.Conv2d``.
        conv_cfg: e.g. ``dict(type='Conv2d')``; ``None`` is ``nn.Conv2d``.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: Union[int, Tuple[int, int]], stride: int = 1,
                 padding: int = 0, norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = dict(type='ReLU'),
                 bias: Union[str, bool] = 'auto', inplace: bool = True,
                 dilation: int = 1, groups: int = 1, conv_cfg: Optional[Dict] = None) -> None:
        super().__init__()
        with_bias = norm_cfg is None if bias == 'auto' else bool(bias)
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size,
                                     stride=stride, padding=padding, dilation=dilation,
                                     groups=groups, bias=with_bias)
        self.norm_name = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        if act_cfg is not None:
            act_cfg = dict(act_cfg)
            if act_cfg['type'] in ('ReLU', 'ReLU6', 'LeakyReLU', 'ELU', 'SiLU', 'Hardswish'):
                act_cfg.setdefault('inplace', inplace)
        self.activate = build_activation_layer(act_cfg) if act_cfg is not None else None

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` → ``[B, C_out, H', W']``."""
        x = self.conv(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        if self.activate is not None:
            x = self.activate(x)
        return x
