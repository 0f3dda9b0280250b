"""Box helpers. Boxes are ``xyxy`` (x1, y1, x2, y2) in pixels unless named."""
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """``[..., 4]`` xyxy -> ``[..., 4]`` (cx, cy, w, h)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1), dim=-1)


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``[..., 4]`` (cx, cy, w, h) -> ``[..., 4]`` xyxy."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5), dim=-1)


def bbox_overlaps(boxes1: Tensor, boxes2: Tensor, mode: str = 'iou',
                  eps: float = 1e-6) -> Tensor:
    """Pairwise IoU (or IoF) between two sets of xyxy boxes.

    Args:
        boxes1: ``[..., N, 4]``.
        boxes2: ``[..., M, 4]``; leading dims broadcast with ``boxes1``'s.
        mode: ``'iou'`` (intersection over union) or ``'iof'``
            (intersection over the area of ``boxes1``).
        eps: floor of the denominator, as MMDetection does.

    Returns:
        ``[..., N, M]`` overlaps in [0, 1].
    """
    if mode not in ('iou', 'iof'):
        raise ValueError(f"bbox_overlaps mode must be 'iou' or 'iof', got {mode!r}")
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    lt = torch.max(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
    rb = torch.min(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    if mode == 'iou':
        union = area1[..., :, None] + area2[..., None, :] - overlap
    else:
        union = area1[..., :, None].expand_as(overlap)
    return overlap / union.clamp(min=eps)


def clip_bboxes(boxes: Tensor, max_shape: Union[Sequence[int], Tensor]) -> Tensor:
    """Clamp xyxy ``boxes [..., 4]`` to x in ``[0, W]`` and y in ``[0, H]``.

    Args:
        boxes: ``[..., 4]`` xyxy.
        max_shape: ``(H, W)``, or a ``[B, 2]`` tensor of per-image ``(H, W)``
            for ``[B, N, 4]`` boxes.
    """
    if isinstance(max_shape, Tensor):
        hw = max_shape.to(boxes)
        if hw.dim() == 2:
            if boxes.dim() != 3 or hw.size(0) != boxes.size(0):
                raise ValueError(f'clip_bboxes: a [B, 2] max_shape needs [B, N, 4] boxes, got '
                                 f'max_shape {tuple(hw.shape)} and boxes {tuple(boxes.shape)}')
            hw = hw[:, None, :]
        return torch.minimum(boxes.clamp(min=0), hw[..., [1, 0, 1, 0]])
    height, width = max_shape[0], max_shape[1]
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def centerness_target(distances: Tensor) -> Tensor:
    """FCOS / ATSS centre-ness ``[...]`` of points given their ``distances [..., 4]`` to a box.

    ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` with ``(l, t, r,
    b)`` the distances from the point to the box's left, top, right and
    bottom sides (:class:`DistancePointBBoxCoder` ``encode``): 1 at the box
    centre, towards 0 at its border. Meaningful for points inside the box
    only; finite everywhere, so that a head can compute it for every prior
    of a fixed-shape batch and select the positives afterwards.
    """
    left_right = distances[..., 0::2]
    top_bottom = distances[..., 1::2]
    tiny = torch.finfo(distances.dtype).tiny
    ratio_x = left_right.amin(dim=-1) / left_right.amax(dim=-1).clamp(min=tiny)
    ratio_y = top_bottom.amin(dim=-1) / top_bottom.amax(dim=-1).clamp(min=tiny)
    return (ratio_x * ratio_y).clamp(min=0).sqrt()


def aligned_overlap_and_union(pred: Tensor, target: Tensor,
                              eps: float = 1e-6) -> Tuple[Tensor, Tensor]:
    """Intersection and union (floored at ``eps``) ``[...]`` of box pairs ``[..., 4]`` xyxy."""
    area_pred = (pred[..., 2] - pred[..., 0]) * (pred[..., 3] - pred[..., 1])
    area_target = (target[..., 2] - target[..., 0]) * (target[..., 3] - target[..., 1])
    inter_wh = (torch.min(pred[..., 2:], target[..., 2:])
                - torch.max(pred[..., :2], target[..., :2])).clamp(min=0)
    overlap = inter_wh[..., 0] * inter_wh[..., 1]
    return overlap, (area_pred + area_target - overlap).clamp(min=eps)


def aligned_iou(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """IoU ``[...]`` of each pair ``pred[i]``, ``target[i]`` (``[..., 4]`` xyxy).

    MMDetection's ``bbox_overlaps(..., is_aligned=True)``: the union is
    floored at ``eps``.
    """
    overlap, union = aligned_overlap_and_union(pred, target, eps)
    return overlap / union
