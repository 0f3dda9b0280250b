"""Multi-level anchor boxes on feature-map grids, with MMDetection's layout."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from detkit.registry import TASK_UTILS
from .grid_prior_generator import DeviceLike, GridPriorGenerator, Size


@TASK_UTILS.register_module()
class AnchorGenerator(GridPriorGenerator):
    """Anchors for every location of every feature level (MMDetection semantics).

    Per level ``l`` there are ``A = len(ratios) * len(scales)`` base anchors of
    size ``base_sizes[l]``; with ``scale_major=True`` base anchor ``i * S + j``
    has ratio ``ratios[i]`` and scale ``scales[j]``: ``w = base * scales[j] /
    sqrt(ratios[i])``, ``h = base * scales[j] * sqrt(ratios[i])`` (ratio = h/w).
    Base anchors are centred on ``centers[l]`` or on ``center_offset * base``
    and shifted by ``(x * stride_w, y * stride_h)`` for every feature location,
    row-major (y outer, x inner), base anchors inner.

    Args:
        strides: per level an int or a ``(stride_w, stride_h)`` pair.
        ratios: ``h / w`` aspect ratios.
        scales: anchor scales relative to the base size; or give
            ``octave_base_scale`` and ``scales_per_octave`` for
            ``octave_base_scale * 2 ** (i / scales_per_octave)``.
        base_sizes: per level base size; default ``min(stride)``.
        scale_major: order base anchors ratio-major (scale inner) when True.
        centers: per level ``(x, y)`` centre of the base anchors.
        center_offset: centre at ``center_offset * base_size`` when no ``centers``.
        sizes: per level, anchor sizes in pixels (``w = size / sqrt(ratio)``,
            ``h = size * sqrt(ratio)``), the same number on every level, as
            torchvision's ``AnchorGenerator(sizes)``; replaces ``scales`` /
            ``octave_base_scale`` (the sizes need not be scales of one base).
        round_base_anchors: round the base anchors' corners, relative to their
            centre, to whole pixels, as torchvision does.
    """

    def __init__(self, strides: Sequence[Union[int, Sequence[int]]],
                 ratios: Sequence[float], scales: Optional[Sequence[float]] = None,
                 base_sizes: Optional[Sequence[int]] = None, scale_major: bool = True,
                 octave_base_scale: Optional[float] = None,
                 scales_per_octave: Optional[int] = None,
                 centers: Optional[Sequence[Tuple[float, float]]] = None,
                 center_offset: float = 0.,
                 sizes: Optional[Sequence[Sequence[float]]] = None,
                 round_base_anchors: bool = False) -> None:
        super().__init__(strides)
        if len(ratios) == 0 or any(r <= 0 for r in ratios):
            raise ValueError(f'AnchorGenerator ratios must be a non-empty list of positive '
                             f'h/w ratios, got ratios={list(ratios)!r}')
        if base_sizes is None:
            base_sizes = [min(s) for s in self.strides]
        elif len(base_sizes) != len(strides):
            raise ValueError(f'AnchorGenerator needs one base size per stride: got '
                             f'{len(base_sizes)} base_sizes for {len(strides)} strides')
        self.base_sizes = list(base_sizes)
        self.sizes = self._check_sizes(sizes, len(strides),
                                       (scales, octave_base_scale, scales_per_octave))
        self.scales = (self._make_scales(scales, octave_base_scale, scales_per_octave)
                       if sizes is None else None)
        self.round_base_anchors = round_base_anchors
        self.ratios = torch.tensor(ratios, dtype=torch.float32)
        if not 0 <= center_offset <= 1:
            raise ValueError(f'AnchorGenerator center_offset must be in [0, 1], '
                             f'got {center_offset}')
        if centers is not None:
            if center_offset != 0:
                raise ValueError('AnchorGenerator takes either centers or a non-zero '
                                 'center_offset, not both')
            if len(centers) != len(strides):
                raise ValueError(f'AnchorGenerator needs one center per stride: got '
                                 f'{len(centers)} centers for {len(strides)} strides')
        self.centers = centers
        self.center_offset = center_offset
        self.scale_major = scale_major
        self.base_anchors = [
            self._single_level_base_anchors(size, None if centers is None else centers[i],
                                            None if sizes is None else self.sizes[i])
            for i, size in enumerate(self.base_sizes)]

    @staticmethod
    def _check_sizes(sizes, num_levels: int, scale_args: tuple) -> Optional[List[List[float]]]:
        if sizes is None:
            return None
        if any(arg is not None for arg in scale_args):
            raise ValueError('AnchorGenerator takes either sizes (pixels, per level) or '
                             'scales / octave_base_scale / scales_per_octave, not both')
        if len(sizes) != num_levels:
            raise ValueError(f'AnchorGenerator needs one list of sizes per stride: got '
                             f'{len(sizes)} for {num_levels} strides')
        counts = {len(level) for level in sizes}
        if len(counts) != 1 or 0 in counts or any(s <= 0 for level in sizes for s in level):
            raise ValueError(f'AnchorGenerator sizes must give every level the same number of '
                             f'positive sizes, got {[list(level) for level in sizes]!r}')
        return [[float(s) for s in level] for level in sizes]

    @staticmethod
    def _make_scales(scales, octave_base_scale, scales_per_octave) -> Tensor:
        if (octave_base_scale is None) != (scales_per_octave is None):
            raise ValueError('AnchorGenerator needs octave_base_scale and scales_per_octave '
                             'together (got only one of them)')
        if scales is not None and octave_base_scale is not None:
            raise ValueError('AnchorGenerator takes either scales or octave_base_scale + '
                             'scales_per_octave, not both')
        if scales is None and octave_base_scale is None:
            raise ValueError('AnchorGenerator needs scales, or octave_base_scale and '
                             'scales_per_octave')
        if scales is None:
            if int(scales_per_octave) != scales_per_octave or scales_per_octave < 1:
                raise ValueError(f'AnchorGenerator scales_per_octave must be a positive '
                                 f'integer, got {scales_per_octave!r}')
            # float64 then float32, as MMDetection builds them with numpy
            scales = [2 ** (i / scales_per_octave) * octave_base_scale
                      for i in range(int(scales_per_octave))]
        if len(scales) == 0 or any(s <= 0 for s in scales):
            raise ValueError(f'AnchorGenerator scales must be a non-empty list of positive '
                             f'numbers, got {list(scales)!r}')
        return torch.tensor(scales, dtype=torch.float32)

    def _single_level_base_anchors(self, base_size: float,
                                   center: Optional[Tuple[float, float]],
                                   sizes: Optional[List[float]] = None) -> Tensor:
        """``[A, 4]`` xyxy base anchors of one level, float32 on the CPU."""
        if center is None:
            cx, cy = self.center_offset * base_size, self.center_offset * base_size
        else:
            cx, cy = center
        h_ratios = torch.sqrt(self.ratios)
        w_ratios = 1 / h_ratios
        scales = self.scales
        if sizes is not None:  # pixels: a base of 1 is exact, so these are torchvision's values
            scales, base_size = torch.tensor(sizes, dtype=torch.float32), 1.0
        # the float32 operation order matches MMDetection's, so anchors agree bit for bit
        if self.scale_major:
            ws = (base_size * w_ratios[:, None] * scales[None, :]).reshape(-1)
            hs = (base_size * h_ratios[:, None] * scales[None, :]).reshape(-1)
        else:
            ws = (base_size * scales[:, None] * w_ratios[None, :]).reshape(-1)
            hs = (base_size * scales[:, None] * h_ratios[None, :]).reshape(-1)
        if self.round_base_anchors:
            corners = (torch.stack([-ws, -hs, ws, hs], dim=-1) / 2).round()
            return corners + torch.tensor([cx, cy, cx, cy], dtype=torch.float32)
        return torch.stack([cx - 0.5 * ws, cy - 0.5 * hs, cx + 0.5 * ws, cy + 0.5 * hs], dim=-1)

    @property
    def num_base_priors(self) -> List[int]:
        """Anchors per location, per level."""
        return [a.size(0) for a in self.base_anchors]

    def grid_priors(self, featmap_sizes: Sequence[Size], dtype: torch.dtype = torch.float32,
                    device: DeviceLike = 'cpu') -> List[Tensor]:
        """Anchors of every level: per level ``[H * W * A, 4]`` xyxy.

        Results are cached per (sizes, dtype, device); the returned tensors are
        shared, so callers must not modify them in place.
        """
        return self._cached_grid_priors(featmap_sizes, dtype, device)

    def _single_level_grid_priors(self, level: int, featmap_size: Size, dtype: torch.dtype,
                                  device: torch.device) -> Tensor:
        feat_h, feat_w = featmap_size
        stride_w, stride_h = self.strides[level]
        base = self.base_anchors[level].to(device=device, dtype=dtype)
        shift_x = torch.arange(feat_w, device=device).to(dtype) * stride_w
        shift_y = torch.arange(feat_h, device=device).to(dtype) * stride_h
        shift_yy, shift_xx = torch.meshgrid(shift_y, shift_x, indexing='ij')
        shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1).reshape(-1, 4)
        return (base[None, :, :] + shifts[:, None, :]).reshape(-1, 4)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(strides={self.strides}, ratios={self.ratios.tolist()}, '
                f'scales={None if self.scales is None else self.scales.tolist()}, '
                f'sizes={self.sizes}, base_sizes={self.base_sizes}, '
                f'scale_major={self.scale_major}, centers={self.centers}, '
                f'center_offset={self.center_offset}, '
                f'round_base_anchors={self.round_base_anchors})')

