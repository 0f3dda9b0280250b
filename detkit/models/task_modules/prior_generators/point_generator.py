"""Multi-level points (one prior per feature location), as anchor-free heads use them."""
from typing import List, Sequence, Union

import torch
from torch import Tensor

from detkit.registry import TASK_UTILS
from .grid_prior_generator import DeviceLike, GridPriorGenerator, Size


@TASK_UTILS.register_module()
class MlvlPointGenerator(GridPriorGenerator):
    """The centre of every feature location of every level (MMDetection's MlvlPointGenerator).

    Level ``l`` has one point per location ``(y, x)``, row-major (y outer, x
    inner): ``((x + offset) * stride_w, (y + offset) * stride_h)`` in pixels.

    Args:
        strides: per level an int or a ``(stride_w, stride_h)`` pair.
        offset: where in its stride cell a point sits; 0.5 is the cell centre
            (FCOS), 0 its top-left corner.
    """

    def __init__(self, strides: Sequence[Union[int, Sequence[int]]], offset: float = 0.5) -> None:
        super().__init__(strides)
        if not 0 <= offset <= 1:
            raise ValueError(f'MlvlPointGenerator offset must be in [0, 1], got {offset}')
        self.offset = offset

    @property
    def num_base_priors(self) -> List[int]:
        """One point per location on every level."""
        return [1] * self.num_levels

    def grid_priors(self, featmap_sizes: Sequence[Size], dtype: torch.dtype = torch.float32,
                    device: DeviceLike = 'cpu', with_stride: bool = False) -> List[Tensor]:
        """Points of every level: per level ``[H * W, 2]`` (x, y) pixels.

        With ``with_stride`` each row is ``(x, y, stride_w, stride_h)``,
        ``[H * W, 4]``. Results are cached per (sizes, dtype, device,
        with_stride); the returned tensors are shared, so callers must not
        modify them in place.
        """
        return self._cached_grid_priors(featmap_sizes, dtype, device, with_stride=with_stride)

    def _single_level_grid_priors(self, level: int, featmap_size: Size, dtype: torch.dtype,
                                  device: torch.device, with_stride: bool = False) -> Tensor:
        feat_h, feat_w = featmap_size
        stride_w, stride_h = self.strides[level]
        # float32 arithmetic before the cast, as MMDetection, so that points agree bit for bit
        shift_x = ((torch.arange(feat_w, device=device) + self.offset) * stride_w).to(dtype)
        shift_y = ((torch.arange(feat_h, device=device) + self.offset) * stride_h).to(dtype)
        yy, xx = torch.meshgrid(shift_y, shift_x, indexing='ij')
        columns = [xx.reshape(-1), yy.reshape(-1)]
        if with_stride:
            columns += [torch.full_like(columns[0], stride_w),
                        torch.full_like(columns[0], stride_h)]
        return torch.stack(columns, dim=-1)

    def sparse_priors(self, prior_idxs: Tensor, featmap_size: Size, level_idx: int,
                      dtype: torch.dtype = torch.float32) -> Tensor:
        """``[K, 2]`` points of the flat indices ``prior_idxs [K]`` into level ``level_idx``."""
        height, width = featmap_size
        stride_w, stride_h = self.strides[level_idx]
        x = (prior_idxs % width + self.offset) * stride_w
        y = ((prior_idxs // width) % height + self.offset) * stride_h
        return torch.stack([x, y], dim=1).to(dtype)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(strides={self.strides}, offset={self.offset})'
