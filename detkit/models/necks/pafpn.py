"""Path Aggregation FPN (Liu et al., 2018, PANet) with MMDetection's names."""
from typing import Dict, Optional, Sequence, Tuple

from torch import Tensor, nn

from detkit.registry import MODELS
from ..layers import ConvModule
from .fpn import FPN


@MODELS.register_module()
class PAFPN(FPN):
    """FPN followed by a bottom-up path that carries fine detail up the pyramid.

    After FPN's top-down path and 3×3 output convs give ``N_0 … N_k`` (one
    per used input level), from the finest up each level gets the previous
    one added through a 3×3 stride-2 conv (``N_{i+1} += down_i(N_i)``, in
    that order, so the sum travels all the way up); a 3×3 conv then gives
    each output above the finest (the finest is ``N_0`` itself). Extra
    levels follow FPN's rules, ``'on_output'`` on the last bottom-up output.

    Parameter names: FPN's (``lateral_convs``, ``fpn_convs``) plus
    ``downsample_convs.i.conv`` and ``pafpn_convs.i.conv``, one each per used
    input level above the first, so MMDetection's PAFPN checkpoints load.

    Args:
        in_channels, out_channels, num_outs: as :class:`FPN`.
        conv_cfg, norm_cfg, act_cfg: for every conv, the bottom-up ones too.
        **kwargs: :class:`FPN`'s other arguments (``start_level``,
            ``end_level``, ``add_extra_convs``, ``relu_before_extra_convs``,
            ``no_norm_on_lateral``, ``upsample_cfg``, ``init_cfg``).

    Shapes: as :class:`FPN`; the stride-2 convs need each used level to be
    ``ceil(H / 2)`` of the one below, as backbones give.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int,
                 conv_cfg: Optional[Dict] = None, norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = None, **kwargs) -> None:
        super().__init__(in_channels, out_channels, num_outs, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, **kwargs)
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False)
        steps = range(self.start_level, self.end_level)
        self.downsample_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, stride=2, padding=1, **conv) for _ in steps)
        self.pafpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, **conv) for _ in steps)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Backbone features (one per ``in_channels``) → ``num_outs`` maps."""
        self._check_inputs(inputs)
        laterals = self._top_down(inputs)
        inter = [conv(lat) for conv, lat in zip(self.fpn_convs, laterals)]
        for i, down in enumerate(self.downsample_convs):
            inter[i + 1] = inter[i + 1] + down(inter[i])
        outs = inter[:1] + [conv(x) for conv, x in zip(self.pafpn_convs, inter[1:])]
        return tuple(self._add_extra_levels(inputs, laterals, outs))
