"""Feature Pyramid Network (Lin et al., 2017) with MMDetection's names."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from detkit.registry import MODELS, close_names
from ..layers import ConvModule

EXTRA_CONV_SOURCES = ('on_input', 'on_lateral', 'on_output')


@MODELS.register_module()
class FPN(BaseModule):
    """Top-down pyramid over backbone features, plus extra coarser levels.

    Levels ``start_level..end_level`` of the input go through a 1×1 lateral
    conv; from the coarsest down, each lateral gets the upsampled (to its
    size) lateral above added; a 3×3 conv then gives each output. Outputs
    beyond those levels come from ``max_pool2d(1, stride=2)`` of the last
    output (``add_extra_convs=False``) or from 3×3 stride-2 convs, the first
    on the last used input (``'on_input'``), its lateral (``'on_lateral'``)
    or its output (``'on_output'``), each next one on the previous extra
    level (after a ReLU when ``relu_before_extra_convs``).

    Parameter names: ``lateral_convs.i.conv``, ``fpn_convs.i.conv``, the
    extra convs appended to ``fpn_convs``.

    Args:
        in_channels: channels of each input level.
        out_channels: channels of every output level.
        num_outs: number of outputs.
        start_level: first input level used.
        end_level: last input level used (inclusive); ``-1`` for the last.
        add_extra_convs: ``False``, ``True`` (= ``'on_input'``), or one of
            ``'on_input'``, ``'on_lateral'``, ``'on_output'``.
        relu_before_extra_convs: ReLU before every extra conv but the first.
        no_norm_on_lateral: lateral convs without ``norm_cfg``.
        conv_cfg, norm_cfg, act_cfg: for every conv (:class:`ConvModule`).
        upsample_cfg: ``F.interpolate`` keywords; without ``scale_factor``
            the upsampled map takes the size of the level below.
        init_cfg: mmengine init config (Xavier-uniform convs by default).

    Shapes: inputs ``[B, in_channels[i], H_i, W_i]``; outputs
    ``[B, out_channels, H_j, W_j]``, the first at the resolution of input
    ``start_level``, each extra level half the previous (rounded up).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int,
                 start_level: int = 0, end_level: int = -1,
                 add_extra_convs: Union[bool, str] = False,
                 relu_before_extra_convs: bool = False, no_norm_on_lateral: bool = False,
                 conv_cfg: Optional[Dict] = None, norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = None, upsample_cfg: Dict = dict(mode='nearest'),
                 init_cfg: Optional[Union[Dict, List[Dict]]] = dict(
                     type='Xavier', layer='Conv2d', distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs
        self.start_level = start_level
        self.end_level = self._check_levels(start_level, end_level, num_outs)
        self.add_extra_convs = self._check_extra_convs(add_extra_convs)
        self.relu_before_extra_convs = relu_before_extra_convs
        self.upsample_cfg = dict(upsample_cfg)

        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False)
        lateral = dict(conv, norm_cfg=None if no_norm_on_lateral else norm_cfg)
        self.lateral_convs = nn.ModuleList(
            ConvModule(self.in_channels[i], out_channels, 1, **lateral)
            for i in range(start_level, self.end_level + 1))
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, **conv)
            for _ in range(start_level, self.end_level + 1))
        if self.add_extra_convs:
            for i in range(num_outs - len(self.lateral_convs)):
                in_ch = out_channels
                if i == 0 and self.add_extra_convs == 'on_input':
                    in_ch = self.in_channels[self.end_level]
                self.fpn_convs.append(ConvModule(in_ch, out_channels, 3, stride=2, padding=1,
                                                 **conv))

    def _check_levels(self, start_level: int, end_level: int, num_outs: int) -> int:
        """Validate the level range; returns the last used level (inclusive)."""
        num_ins = len(self.in_channels)
        if num_ins == 0:
            raise ValueError('FPN in_channels must list the channels of at least one level')
        if not 0 <= start_level < num_ins:
            raise ValueError(f'FPN start_level={start_level} is out of range for '
                             f'{num_ins} input levels (in_channels={self.in_channels}); '
                             f'use 0..{num_ins - 1}')
        last = num_ins - 1 if end_level == -1 else end_level
        if not start_level <= last < num_ins:
            raise ValueError(f'FPN end_level={end_level} must be -1 or in '
                             f'{start_level}..{num_ins - 1} (start_level..last input level)')
        used = last - start_level + 1
        if num_outs < used:
            raise ValueError(f'FPN num_outs={num_outs} is smaller than the {used} input levels '
                             f'it uses (start_level={start_level}, end_level={end_level}, '
                             f'in_channels={self.in_channels})')
        if last != num_ins - 1 and num_outs != used:
            raise ValueError(f'FPN with end_level={end_level} before the last input level '
                             f'adds no extra levels: num_outs must be {used}, got {num_outs}')
        return last

    @staticmethod
    def _check_extra_convs(add_extra_convs: Union[bool, str]) -> Union[bool, str]:
        if isinstance(add_extra_convs, bool):
            return 'on_input' if add_extra_convs else False
        if add_extra_convs in EXTRA_CONV_SOURCES:
            return add_extra_convs
        hint = close_names(str(add_extra_convs), EXTRA_CONV_SOURCES, n=1)
        raise ValueError(f'FPN add_extra_convs={add_extra_convs!r} is not valid; use False, '
                         f'True or one of {", ".join(map(repr, EXTRA_CONV_SOURCES))}'
                         + (f' (did you mean {hint[0]!r}?)' if hint else ''))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Backbone features (one per ``in_channels``) → ``num_outs`` maps."""
        self._check_inputs(inputs)
        laterals = self._top_down(inputs)
        outs = [conv(lat) for conv, lat in zip(self.fpn_convs, laterals)]
        return tuple(self._add_extra_levels(inputs, laterals, outs))

    def _top_down(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """The used inputs' 1×1 laterals, each plus the upsampled sum above it.

        Returns one ``[B, out_channels, H_i, W_i]`` map per used input level.
        """
        used = range(self.start_level, self.end_level + 1)
        laterals = [conv(inputs[i]) for conv, i in zip(self.lateral_convs, used)]
        for i in range(len(laterals) - 1, 0, -1):
            if 'scale_factor' in self.upsample_cfg:
                up = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                up = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                   **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        return laterals

    def _add_extra_levels(self, inputs: Sequence[Tensor], laterals: List[Tensor],
                          outs: List[Tensor]) -> List[Tensor]:
        """``outs`` (one map per used input level) extended to ``num_outs`` maps."""
        num_extra = self.num_outs - len(outs)
        if num_extra and not self.add_extra_convs:
            for _ in range(num_extra):
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        elif num_extra:
            source = {'on_input': inputs[self.end_level], 'on_lateral': laterals[-1],
                      'on_output': outs[-1]}[self.add_extra_convs]
            outs.append(self.fpn_convs[len(laterals)](source))
            for conv in self.fpn_convs[len(laterals) + 1:]:
                outs.append(conv(F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]))
        return outs

    def _check_inputs(self, inputs: Sequence[Tensor]) -> None:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'FPN was built for {len(self.in_channels)} input levels '
                             f'(in_channels={self.in_channels}) but received {len(inputs)} '
                             f'feature maps; check the backbone out_indices')
        got = [x.shape[1] for x in inputs]
        if got != self.in_channels:
            raise ValueError(f'FPN input channels {got} differ from in_channels='
                             f'{self.in_channels}')
