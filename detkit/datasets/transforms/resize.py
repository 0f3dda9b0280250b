"""Resizing the image and its boxes: fixed, random-range and random-choice."""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from detkit.registry import TRANSFORMS
from .base import BaseTransform

INTERPOLATIONS = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR,
                  'bicubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA}


def _as_pair(value, name: str) -> Tuple:
    if isinstance(value, (int, float)):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(value)
    raise TypeError(f'{name} must be a number or a (w, h) pair, got {value!r}')


def target_size(w: int, h: int, scale: Tuple[int, int], keep_ratio: bool) -> Tuple[int, int]:
    """The ``(new_w, new_h)`` an image of ``w x h`` is resized to.

    With ``keep_ratio`` the image is rescaled so that its long side is at most
    ``max(scale)`` and its short side at most ``min(scale)`` (as MMDetection);
    otherwise it is resized to ``scale = (w, h)`` exactly.
    """
    if not keep_ratio:
        return int(scale[0]), int(scale[1])
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return max(1, int(w * factor + 0.5)), max(1, int(h * factor + 0.5))


def resize_results(results: dict, new_w: int, new_h: int,
                   interpolation: str = 'bilinear') -> dict:
    """Resize ``img`` to ``new_w x new_h`` and keep boxes and metadata in step.

    Scales ``gt_bboxes`` (xyxy) by ``(w_scale, h_scale) = (new_w / w, new_h / h)``,
    clips them to the new image, sets ``img_shape`` and multiplies
    ``scale_factor`` (so chained resizes still map back to original pixels by
    one division).
    """
    img = results['img']
    h, w = img.shape[:2]
    if (new_w, new_h) != (w, h):
        img = cv2.resize(img, (new_w, new_h), interpolation=INTERPOLATIONS[interpolation])
    w_scale, h_scale = new_w / w, new_h / h
    results['img'] = img
    results['img_shape'] = (new_h, new_w)
    old_w_scale, old_h_scale = results.get('scale_factor', (1.0, 1.0))
    results['scale_factor'] = (old_w_scale * w_scale, old_h_scale * h_scale)
    if 'gt_bboxes' in results:
        boxes = results['gt_bboxes'] * np.array([w_scale, h_scale, w_scale, h_scale],
                                                dtype=np.float32)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, new_w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, new_h)
        results['gt_bboxes'] = boxes
    return results


def _check_interpolation(interpolation: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {sorted(INTERPOLATIONS)}, '
                         f'got {interpolation!r}')
    return interpolation


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize to a fixed ``scale`` or by a ``scale_factor``.

    Args:
        scale: target ``(w, h)`` (an int means ``(s, s)``). With ``keep_ratio``
            the image fits inside it: long side ``<= max(scale)``, short side
            ``<= min(scale)``.
        scale_factor: multiply the size by this (a float, or ``(w_ratio,
            h_ratio)`` when ``keep_ratio=False``). Give ``scale`` or this.
        keep_ratio: keep the aspect ratio.
        interpolation: ``'bilinear'`` (cv2 ``INTER_LINEAR``), ``'nearest'``,
            ``'bicubic'`` or ``'area'``.

    Sets ``img_shape (H, W)`` and ``scale_factor (w_scale, h_scale)``; boxes
    are scaled and clipped to the image.
    """

    def __init__(self, scale: Union[int, Tuple[int, int], None] = None,
                 scale_factor: Union[float, Tuple[float, float], None] = None,
                 keep_ratio: bool = True, interpolation: str = 'bilinear'):
        if (scale is None) == (scale_factor is None):
            raise ValueError('Resize needs exactly one of scale=(w, h) or scale_factor, '
                             f'got scale={scale!r}, scale_factor={scale_factor!r}')
        if keep_ratio and isinstance(scale_factor, (tuple, list)):
            raise ValueError('Resize(keep_ratio=True) needs one float scale_factor, '
                             f'got {scale_factor!r}')
        self.scale = None if scale is None else _as_pair(scale, 'scale')
        self.scale_factor = scale_factor
        self.keep_ratio = keep_ratio
        self.interpolation = _check_interpolation(interpolation)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        if self.scale is not None:
            new_w, new_h = target_size(w, h, self.scale, self.keep_ratio)
        else:
            fx, fy = _as_pair(self.scale_factor, 'scale_factor')
            new_w, new_h = max(1, int(w * fx + 0.5)), max(1, int(h * fy + 0.5))
        return resize_results(results, new_w, new_h, self.interpolation)


@TRANSFORMS.register_module()
class RandomResize(BaseTransform):
    """Resize to a scale drawn at random, for multi-scale training.

    Args:
        scale: with ``ratio_range=None``, two scales ``[(w1, h1), (w2, h2)]``:
            the width is drawn uniformly from ``[min(w1, w2), max(w1, w2)]`` and
            the height likewise (integers). With ``ratio_range``, one scale
            ``(w, h)`` multiplied by a ratio drawn uniformly from the range.
        ratio_range: ``(min_ratio, max_ratio)`` or ``None``.
        keep_ratio, interpolation: as :class:`Resize`.
    """

    def __init__(self, scale: Sequence, ratio_range: Optional[Tuple[float, float]] = None,
                 keep_ratio: bool = True, interpolation: str = 'bilinear'):
        if ratio_range is None:
            if len(scale) != 2 or not all(isinstance(s, (tuple, list)) for s in scale):
                raise ValueError('RandomResize without ratio_range needs two scales '
                                 f'[(w1, h1), (w2, h2)], got {scale!r}')
            scale = [tuple(s) for s in scale]
        else:
            scale = _as_pair(scale, 'scale')
            if len(ratio_range) != 2 or not 0 < ratio_range[0] <= ratio_range[1]:
                raise ValueError(f'ratio_range must be (min, max) with 0 < min <= max, '
                                 f'got {ratio_range!r}')
        self.scale = scale
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.interpolation = _check_interpolation(interpolation)

    def sample_scale(self) -> Tuple[int, int]:
        """Draw one ``(w, h)`` target scale."""
        if self.ratio_range is None:
            (w1, h1), (w2, h2) = self.scale
            return (int(np.random.randint(min(w1, w2), max(w1, w2) + 1)),
                    int(np.random.randint(min(h1, h2), max(h1, h2) + 1)))
        ratio = np.random.uniform(*self.ratio_range)
        return int(self.scale[0] * ratio), int(self.scale[1] * ratio)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        new_w, new_h = target_size(w, h, self.sample_scale(), self.keep_ratio)
        return resize_results(results, new_w, new_h, self.interpolation)


@TRANSFORMS.register_module()
class RandomChoiceResize(BaseTransform):
    """Resize to one of ``scales`` (each ``(w, h)``) chosen uniformly at random.

    Args:
        scales: candidate ``(w, h)`` scales.
        keep_ratio, interpolation: as :class:`Resize`.
    """

    def __init__(self, scales: Sequence[Tuple[int, int]], keep_ratio: bool = True,
                 interpolation: str = 'bilinear'):
        if len(scales) == 0:
            raise ValueError('RandomChoiceResize needs at least one scale')
        self.scales = [_as_pair(s, 'scales[i]') for s in scales]
        self.keep_ratio = keep_ratio
        self.interpolation = _check_interpolation(interpolation)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        scale = self.scales[np.random.randint(len(self.scales))]
        new_w, new_h = target_size(w, h, scale, self.keep_ratio)
        return resize_results(results, new_w, new_h, self.interpolation)
