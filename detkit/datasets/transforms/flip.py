"""Random horizontal / vertical / diagonal flipping of the image and its boxes."""
from typing import Sequence, Union

import numpy as np

from detkit.registry import TRANSFORMS
from .base import BaseTransform

DIRECTIONS = ('horizontal', 'vertical', 'diagonal')


def flip_boxes(boxes: np.ndarray, img_shape: tuple, direction: str) -> np.ndarray:
    """Flip xyxy boxes ``[N, 4]`` inside an image of ``img_shape (H, W)``.

    Horizontal: ``x1' = W - x2, x2' = W - x1``; vertical does the same to y;
    diagonal does both.
    """
    h, w = img_shape[:2]
    flipped = boxes.copy()
    if direction in ('horizontal', 'diagonal'):
        flipped[:, 0], flipped[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    if direction in ('vertical', 'diagonal'):
        flipped[:, 1], flipped[:, 3] = h - boxes[:, 3], h - boxes[:, 1]
    return flipped


def flip_image(img: np.ndarray, direction: str) -> np.ndarray:
    """Flip ``[H, W, C]`` along the given direction; the result is contiguous."""
    if direction == 'horizontal':
        return np.ascontiguousarray(img[:, ::-1])
    if direction == 'vertical':
        return np.ascontiguousarray(img[::-1])
    return np.ascontiguousarray(img[::-1, ::-1])


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip with probability ``prob``.

    Args:
        prob: probability of flipping at all.
        direction: ``'horizontal'``, ``'vertical'``, ``'diagonal'`` or a list
            of them; when flipping, one listed direction is chosen uniformly.

    Sets ``flip`` (bool) and ``flip_direction`` (the direction or ``None``).
    """

    def __init__(self, prob: float = 0.5,
                 direction: Union[str, Sequence[str]] = 'horizontal'):
        directions = [direction] if isinstance(direction, str) else list(direction)
        unknown = [d for d in directions if d not in DIRECTIONS]
        if unknown or not directions:
            raise ValueError(f'RandomFlip direction must be one of {DIRECTIONS} or a list '
                             f'of them, got {direction!r}')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'RandomFlip prob must be in [0, 1], got {prob!r}')
        self.prob = prob
        self.direction = direction

    def transform(self, results: dict) -> dict:
        directions = [self.direction] if isinstance(self.direction, str) else self.direction
        flip = bool(np.random.rand() < self.prob)
        direction = directions[np.random.randint(len(directions))] if flip else None
        results['flip'] = flip
        results['flip_direction'] = direction
        if flip:
            results['img'] = flip_image(results['img'], direction)
            if 'gt_bboxes' in results:
                results['gt_bboxes'] = flip_boxes(results['gt_bboxes'], results['img'].shape,
                                                  direction)
        return results
