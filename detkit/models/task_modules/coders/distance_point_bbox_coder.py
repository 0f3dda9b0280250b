"""Boxes as the distances from a point to their four sides (FCOS, GFL)."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from detkit.registry import TASK_UTILS
from detkit.structures.bbox import clip_bboxes


@TASK_UTILS.register_module()
class DistancePointBBoxCoder:
    """Encode xyxy boxes as ``(l, t, r, b)`` distances from points, and decode them back.

    ``l = px - x1``, ``t = py - y1``, ``r = x2 - px``, ``b = y2 - py`` for a
    point ``(px, py)``; MMDetection's DistancePointBBoxCoder.

    Args:
        clip_border: clip decoded boxes to ``max_shape`` when one is given.
    """

    encode_size = 4

    def __init__(self, clip_border: bool = True) -> None:
        self.clip_border = clip_border

    def encode(self, points: Tensor, gt_bboxes: Tensor, max_dis: Optional[float] = None,
               eps: float = 0.1) -> Tensor:
        """Distances ``[..., N, 4]`` (l, t, r, b) from ``points`` to the sides of ``gt_bboxes``.

        Args:
            points: ``[..., N, 2]`` (x, y), broadcastable with ``gt_bboxes``.
            gt_bboxes: ``[..., N, 4]`` xyxy.
            max_dis: clamp every distance to ``[0, max_dis - eps]`` (GFL's
                integral regression covers ``0 .. reg_max``); None leaves them free.
            eps: the margin below ``max_dis``.
        """
        self._check(points, gt_bboxes, 'encode', 'gt_bboxes')
        distances = torch.stack([points[..., 0] - gt_bboxes[..., 0],
                                 points[..., 1] - gt_bboxes[..., 1],
                                 gt_bboxes[..., 2] - points[..., 0],
                                 gt_bboxes[..., 3] - points[..., 1]], dim=-1)
        if max_dis is not None:
            distances = distances.clamp(min=0, max=max_dis - eps)
        return distances

    def decode(self, points: Tensor, pred_bboxes: Tensor,
               max_shape: Optional[Union[Sequence[int], Tensor]] = None) -> Tensor:
        """Boxes ``[..., N, 4]`` xyxy from ``points [..., N, 2]`` and distances ``pred_bboxes``.

        Args:
            points: ``[..., N, 2]`` (x, y), broadcastable with ``pred_bboxes``.
            pred_bboxes: ``[..., N, 4]`` distances (l, t, r, b).
            max_shape: ``(H, W)`` to clip to, or for ``[B, N, 4]`` distances a
                ``[B, 2]`` tensor of per-image ``(H, W)``; ignored without
                ``clip_border``.
        """
        self._check(points, pred_bboxes, 'decode', 'pred_bboxes')
        boxes = torch.stack([points[..., 0] - pred_bboxes[..., 0],
                             points[..., 1] - pred_bboxes[..., 1],
                             points[..., 0] + pred_bboxes[..., 2],
                             points[..., 1] + pred_bboxes[..., 3]], dim=-1)
        if self.clip_border and max_shape is not None:
            boxes = clip_bboxes(boxes, max_shape)
        return boxes

    @staticmethod
    def _check(points: Tensor, boxes: Tensor, method: str, name: str) -> None:
        if points.size(-1) != 2 or boxes.size(-1) != 4:
            raise ValueError(f'DistancePointBBoxCoder.{method} expects points [..., N, 2] and '
                             f'{name} [..., N, 4], got {tuple(points.shape)} and '
                             f'{tuple(boxes.shape)}')

    def __repr__(self) -> str:
        return f'{type(self).__name__}(clip_border={self.clip_border})'
