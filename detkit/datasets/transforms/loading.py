"""Reading an image and its boxes into the pipeline's result dict."""
import logging
from typing import Optional

import cv2
import numpy as np
from mmengine import fileio
from mmengine.logging import print_log

from detkit.registry import TRANSFORMS
from .base import BaseTransform


class CorruptImageError(ValueError):
    """An image file exists but cannot be decoded."""


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` as a BGR ``uint8`` array ``[H, W, 3]``.

    Grayscale images get three channels, an alpha channel is dropped and the
    EXIF orientation is applied, so every image reaches the model the same
    way whatever its file format.

    Adds ``img``, ``img_shape`` and ``ori_shape`` (both ``(H, W)``).

    Args:
        to_float32: return ``float32`` instead of ``uint8``.
        backend_args: mmengine file-backend arguments (``None``: local disk).

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        CorruptImageError: the file exists but does not decode.
    """

    max_size_warnings = 10  # per process: a whole dataset may disagree
    _size_warnings = 0

    def __init__(self, to_float32: bool = False, backend_args: Optional[dict] = None):
        self.to_float32 = to_float32
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        try:
            buf = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'Image file not found: {path}') from None
        try:
            img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error:
            img = None
        if img is None:
            raise CorruptImageError(
                f'Cannot decode image {path} ({len(buf)} bytes): the file is '
                'corrupt or not an image.')
        if self.to_float32:
            img = img.astype(np.float32)
        shape = img.shape[:2]
        self._check_size(results, path, shape)
        results['img'] = img
        results['img_shape'] = shape
        results['ori_shape'] = shape
        return results

    def _check_size(self, results: dict, path: str, shape: tuple) -> None:
        """Warn when the annotation's width/height disagree with the file's."""
        expected = (results.get('height'), results.get('width'))
        if None in expected or tuple(expected) == tuple(shape):
            return
        cls = LoadImageFromFile
        cls._size_warnings += 1
        if cls._size_warnings <= cls.max_size_warnings:
            more = (' Further mismatches are not reported.'
                    if cls._size_warnings == cls.max_size_warnings else '')
            print_log(f'Image {path} is {shape[1]}x{shape[0]} (WxH) but its '
                      f'annotation says {expected[1]}x{expected[0]}; boxes were '
                      f'clipped to the annotated size.{more}',
                      logger='current', level=logging.WARNING)


@TRANSFORMS.register_module()
class LoadAnnotations(BaseTransform):
    """Turn ``results['instances']`` into box arrays.

    Each instance is ``dict(bbox=[x1, y1, x2, y2], bbox_label=int,
    ignore_flag=0|1)``. Adds ``gt_bboxes`` (float32 ``[N, 4]`` xyxy),
    ``gt_bboxes_labels`` (int64 ``[N]``) and ``gt_ignore_flags`` (bool
    ``[N]``; ``True`` marks an ignore region such as COCO ``iscrowd=1``).

    Args:
        with_bbox: load ``gt_bboxes`` and ``gt_ignore_flags``.
        with_label: load ``gt_bboxes_labels``.
    """

    def __init__(self, with_bbox: bool = True, with_label: bool = True):
        self.with_bbox = with_bbox
        self.with_label = with_label

    def transform(self, results: dict) -> dict:
        instances = results.get('instances', [])
        if self.with_bbox:
            results['gt_bboxes'] = np.array(
                [inst['bbox'] for inst in instances], dtype=np.float32).reshape(-1, 4)
            results['gt_ignore_flags'] = np.array(
                [bool(inst.get('ignore_flag', 0)) for inst in instances], dtype=bool)
        if self.with_label:
            results['gt_bboxes_labels'] = np.array(
                [inst['bbox_label'] for inst in instances], dtype=np.int64)
        return results
