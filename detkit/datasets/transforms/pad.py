"""Padding the image at the bottom and right."""
from typing import Optional, Tuple, Union

import numpy as np

from detkit.registry import TRANSFORMS
from .base import BaseTransform


@TRANSFORMS.register_module()
class Pad(BaseTransform):
    """Pad the image on the bottom and right; boxes do not move.

    Args:
        size: pad to this ``(w, h)``.
        size_divisor: pad each side up to a multiple of this. Give ``size`` or
            this (the model's data preprocessor also pads batches to /32, so
            this transform is only needed for fixed-size inputs).
        pad_val: value of the padded pixels.

    Sets ``pad_shape (H, W)``; ``img_shape`` keeps the unpadded size.
    """

    def __init__(self, size: Optional[Tuple[int, int]] = None,
                 size_divisor: Optional[int] = None, pad_val: Union[int, float] = 0):
        if (size is None) == (size_divisor is None):
            raise ValueError('Pad needs exactly one of size=(w, h) or size_divisor, '
                             f'got size={size!r}, size_divisor={size_divisor!r}')
        self.size = size
        self.size_divisor = size_divisor
        self.pad_val = pad_val

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        if self.size is not None:
            pad_w, pad_h = self.size
            if pad_w < w or pad_h < h:
                raise ValueError(f'Pad size (w, h)={self.size} is smaller than the '
                                 f'image ({w}, {h}) of {results.get("img_path")}')
        else:
            d = self.size_divisor
            pad_w, pad_h = -(-w // d) * d, -(-h // d) * d
        if (pad_w, pad_h) != (w, h):
            padded = np.full((pad_h, pad_w) + img.shape[2:], self.pad_val, dtype=img.dtype)
            padded[:h, :w] = img
            img = padded
        results['img'] = img
        results['pad_shape'] = (pad_h, pad_w)
        return results
