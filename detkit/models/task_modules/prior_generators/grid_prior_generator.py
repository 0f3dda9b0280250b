"""What every multi-level prior generator shares: strides, cached grids, valid flags."""
from collections import OrderedDict
from typing import List, Sequence, Tuple, Union

import torch
from torch import Tensor

Size = Tuple[int, int]
DeviceLike = Union[str, torch.device]


class GridPriorGenerator:
    """Base of the prior generators: ``num_base_priors[l]`` priors per location of level ``l``.

    Subclasses say what the priors of one level are
    (:meth:`_single_level_grid_priors`) and how many there are per location
    (:attr:`num_base_priors`); this class checks the levels, caches the grids
    per feature-map size, dtype and device, and works out which priors lie
    inside each image's padded shape.

    Args:
        strides: per level an int or a ``(stride_w, stride_h)`` pair.
    """

    #: how many featmap-size combinations :meth:`grid_priors` keeps
    cache_size = 16

    def __init__(self, strides: Sequence[Union[int, Sequence[int]]]) -> None:
        if len(strides) == 0:
            raise ValueError(f'{type(self).__name__} needs at least one stride, got strides=[]')
        self.strides = [self._pair(s) for s in strides]
        self._grid_cache: 'OrderedDict[tuple, List[Tensor]]' = OrderedDict()

    def _pair(self, value: Union[float, Sequence[float]]) -> Tuple[float, float]:
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise ValueError(f'{type(self).__name__} stride must be a number or a (w, h) '
                                 f'pair, got {value!r}')
            return value[0], value[1]
        return value, value

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_priors(self) -> List[int]:
        """Priors per location, per level."""
        raise NotImplementedError

    def _single_level_grid_priors(self, level: int, featmap_size: Size, dtype: torch.dtype,
                                  device: torch.device, **options) -> Tensor:
        """``[H * W * A, D]`` priors of one level, row-major, the ``A`` per location inner."""
        raise NotImplementedError

    def _cached_grid_priors(self, featmap_sizes: Sequence[Size], dtype: torch.dtype,
                            device: DeviceLike, **options) -> List[Tensor]:
        """Per level :meth:`_single_level_grid_priors`, cached per (sizes, dtype, device, options).

        The returned tensors are shared, so callers must not modify them in place.
        """
        self._check_levels(featmap_sizes)
        device = torch.device(device)
        sizes = tuple((int(h), int(w)) for h, w in featmap_sizes)
        key = (sizes, dtype, device, tuple(sorted(options.items())))
        cached = self._grid_cache.get(key)
        if cached is not None:
            self._grid_cache.move_to_end(key)
            return list(cached)
        # tensors made in inference mode could not be saved for backward later
        with torch.inference_mode(False):
            priors = [self._single_level_grid_priors(i, sizes[i], dtype, device, **options)
                      for i in range(self.num_levels)]
        self._grid_cache[key] = priors
        if len(self._grid_cache) > self.cache_size:
            self._grid_cache.popitem(last=False)
        return list(priors)

    def valid_flags(self, featmap_sizes: Sequence[Size], pad_shape: Sequence[int],
                    device: DeviceLike = 'cpu') -> List[Tensor]:
        """Per level ``[H * W * A]`` bool: the prior's location lies inside ``pad_shape``.

        Location ``(y, x)`` of a level is valid iff ``y < ceil(pad_h / stride_h)``
        and ``x < ceil(pad_w / stride_w)``; its ``A`` priors share the flag.
        """
        flags = self.batch_valid_flags(featmap_sizes, [pad_shape], device=device)[0]
        sizes = [int(h) * int(w) * a for (h, w), a in zip(featmap_sizes, self.num_base_priors)]
        return list(flags.split(sizes))

    def batch_valid_flags(self, featmap_sizes: Sequence[Size],
                          pad_shapes: Union[Tensor, Sequence[Sequence[int]]],
                          device: DeviceLike = 'cpu') -> Tensor:
        """``[B, N]`` bool valid flags of all levels (concatenated) for ``B`` images.

        Args:
            featmap_sizes: per level ``(H, W)``.
            pad_shapes: per image ``(pad_h, pad_w)`` (extra trailing items
                ignored), or a ``[B, 2]`` tensor of them (read on its device,
                without a host synchronisation).
        """
        self._check_levels(featmap_sizes)
        if isinstance(pad_shapes, Tensor):
            shapes = pad_shapes.to(device)
        else:
            shapes = torch.as_tensor([tuple(s[:2]) for s in pad_shapes], device=device)
        shapes = shapes.reshape(-1, 2)
        pad_h, pad_w = shapes[:, 0, None, None], shapes[:, 1, None, None]
        flags = []
        for (feat_h, feat_w), (stride_w, stride_h), num_base in zip(
                featmap_sizes, self.strides, self.num_base_priors):
            # for an integer y: y < ceil(pad_h / stride) <=> y * stride < pad_h
            valid_y = torch.arange(int(feat_h), device=device)[None, :, None] * stride_h < pad_h
            valid_x = torch.arange(int(feat_w), device=device)[None, None, :] * stride_w < pad_w
            valid = valid_y & valid_x
            flags.append(valid[..., None].expand(*valid.shape, num_base).reshape(len(shapes), -1))
        return torch.cat(flags, dim=1)

    def _check_levels(self, featmap_sizes: Sequence[Size]) -> None:
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'{type(self).__name__} has {self.num_levels} levels (strides '
                             f'{self.strides}) but got {len(featmap_sizes)} featmap sizes')
