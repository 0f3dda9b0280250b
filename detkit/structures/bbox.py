"""Box helpers. Boxes are ``xyxy`` (x1, y1, x2, y2) in pixels unless named."""
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
