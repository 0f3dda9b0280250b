"""Tensor helpers shared by dense heads: padding gts, flattening levels, NMS."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torchvision.ops import nms


def pad_boxes_and_labels(instances: Sequence, device: torch.device
                         ) -> Tuple[Tensor, Tensor, Tensor]:
    """Stack per-image gts into padded batch tensors.

    Args:
        instances: per image an object with ``bboxes [G_i, 4]`` and ``labels [G_i]``.

    Returns:
        ``bboxes [B, G, 4]`` float, ``labels [B, G]`` int64, ``valid [B, G]``
        bool, with ``G = max_i G_i`` (padding is zeros and ``valid=False``).
    """
    boxes = [torch.as_tensor(inst.bboxes, dtype=torch.float32, device=device).reshape(-1, 4)
             for inst in instances]
    labels = [torch.as_tensor(inst.labels, dtype=torch.long, device=device).reshape(-1)
              for inst in instances]
    counts = torch.tensor([len(b) for b in boxes], device=device)
    gmax = int(counts.max()) if len(boxes) else 0
    valid = torch.arange(gmax, device=device).unsqueeze(0) < counts.unsqueeze(1)
    padded_boxes = torch.zeros(len(boxes), gmax, 4, device=device)
    padded_labels = torch.zeros(len(boxes), gmax, dtype=torch.long, device=device)
    if gmax:
        padded_boxes[valid] = torch.cat(boxes)
        padded_labels[valid] = torch.cat(labels)
    return padded_boxes, padded_labels, valid


def pad_ignored_boxes(instances: Optional[Sequence], num_imgs: int, device: torch.device
                      ) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """Padded ``[B, I, 4]`` ignore regions and their ``[B, I]`` mask, or ``(None, None)``."""
    if instances is None or all(inst is None or len(inst) == 0 for inst in instances):
        return None, None
    boxes = [torch.zeros(0, 4, device=device) if inst is None
             else torch.as_tensor(inst.bboxes, dtype=torch.float32, device=device).reshape(-1, 4)
             for inst in instances]
    counts = torch.tensor([len(b) for b in boxes], device=device)
    valid = torch.arange(int(counts.max()), device=device).unsqueeze(0) < counts.unsqueeze(1)
    padded = torch.zeros(num_imgs, valid.shape[1], 4, device=device)
    padded[valid] = torch.cat(boxes)
    return padded, valid


def flatten_levels(maps: List[Tensor], channels: int) -> Tensor:
    """``[B, A*C, H, W]`` per level → ``[B, Σ H*W*A, C]``, order (level, y, x, anchor)."""
    flat = [m.permute(0, 2, 3, 1).reshape(m.shape[0], -1, channels) for m in maps]
    return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)


def batched_class_nms(boxes: Tensor, scores: Tensor, groups: Tensor,
                      iou_threshold: float) -> Tensor:
    """NMS within each group (image × class) in one call.

    Groups are separated by offsetting their boxes by ``group * (max + 1)``,
    as mmcv's and torchvision's ``batched_nms`` do; the offsets are applied in
    float64 so that IoUs of small boxes far out stay exact even with many
    groups (float32 loses ~0.06 px at an offset of 10^6).

    Args:
        boxes: ``[T, 4]`` xyxy.
        scores: ``[T]``.
        groups: ``[T]`` int64 group ids.
        iou_threshold: a box is dropped if its IoU with a kept box is greater.

    Returns:
        indices of kept boxes, by descending score.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    boxes64 = boxes.double()
    offsets = groups.double() * (boxes64.max() + 1)
    return nms(boxes64 + offsets[:, None], scores.double(), iou_threshold)


def keep_top_per_image(kept: Tensor, img_idx: Tensor, max_per_img: int) -> Tensor:
    """Reorder ``kept`` (by descending score) to image order, keeping the top ``max_per_img``.

    Args:
        kept: ``[T]`` indices sorted by descending score.
        img_idx: ``[N]`` image index of every candidate.
        max_per_img: keep at most this many per image; ``<= 0`` keeps all.

    Returns:
        indices grouped by image (ascending), by descending score within each.
    """
    order = torch.sort(img_idx[kept], stable=True).indices
    kept = kept[order]
    if max_per_img > 0 and kept.numel():
        imgs = img_idx[kept]
        first = torch.searchsorted(imgs, imgs, right=False)
        rank = torch.arange(len(kept), device=kept.device) - first
        kept = kept[rank < max_per_img]
    return kept
