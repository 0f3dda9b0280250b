"""Class- and image-aware NMS over one batch of candidate boxes, and the per-image cut."""
import itertools
from typing import List

import torch
from torch import Tensor
from torchvision.ops import nms


#: on the CPU, at most about this many boxes go into one NMS call (see batched_class_nms)
CPU_NMS_CHUNK = 256


def _offset_boxes(boxes: Tensor, groups: Tensor) -> Tensor:
    """``[T, 4]`` float64 boxes moved by ``group * (max + 1)``: groups never overlap."""
    boxes64 = boxes.double()
    return boxes64 + (groups.double() * (boxes64.max() + 1))[:, None]


def batched_class_nms(boxes: Tensor, scores: Tensor, groups: Tensor,
                      iou_threshold: float) -> Tensor:
    """NMS within each group (image × class).

    Groups are separated by offsetting their boxes by ``group * (max + 1)``,
    as mmcv's and torchvision's ``batched_nms`` do; the offsets are applied in
    float64 so that IoUs of small boxes far out stay exact even with many
    groups (float32 loses ~0.06 px at an offset of 10^6).

    On CUDA (or for few boxes) that is one NMS call. The CPU kernel compares
    each kept box with every later box, whatever its group, so one call
    costs O(T²); there the boxes are sorted by group and cut, at group
    boundaries, into chunks of about :data:`CPU_NMS_CHUNK` boxes, one call
    each — the same boxes are kept.

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
    if boxes.is_cuda or len(boxes) <= CPU_NMS_CHUNK:
        return nms(_offset_boxes(boxes, groups), scores.double(), iou_threshold)
    order = torch.argsort(groups, stable=True)
    sizes = torch.unique_consecutive(groups[order], return_counts=True)[1]
    # a group goes to the chunk in which it starts
    chunk_of_group = torch.div(sizes.cumsum(0) - sizes, CPU_NMS_CHUNK, rounding_mode='floor')
    chunk_sizes = torch.zeros(int(chunk_of_group[-1]) + 1, dtype=sizes.dtype)
    chunk_sizes.index_add_(0, chunk_of_group, sizes)
    chunk_sizes = chunk_sizes[chunk_sizes > 0].tolist()
    starts = [0] + list(itertools.accumulate(chunk_sizes))[:-1]
    sorted_boxes = _offset_boxes(boxes, groups)[order].split(chunk_sizes)
    sorted_scores = scores.double()[order].split(chunk_sizes)
    kept = order[torch.cat([nms(b, sc, iou_threshold) + start
                            for b, sc, start in zip(sorted_boxes, sorted_scores, starts)])]
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]


def split_per_image(kept: Tensor, img_idx: Tensor, num_imgs: int,
                    max_per_img: int) -> List[Tensor]:
    """Cut ``kept`` (by descending score) into per-image lists of at most ``max_per_img``.

    The one host synchronisation is reading the per-image counts for the cut.

    Args:
        kept: ``[T]`` indices sorted by descending score.
        img_idx: ``[N]`` image index of every candidate.
        num_imgs: number of images (images without a kept index get an empty list).
        max_per_img: keep at most this many per image; ``<= 0`` keeps all.

    Returns:
        ``num_imgs`` index tensors, each by descending score.
    """
    kept = kept[torch.sort(img_idx[kept], stable=True).indices]
    imgs = img_idx[kept]
    counts = torch.zeros(num_imgs, dtype=torch.long, device=kept.device).index_add_(
        0, imgs, torch.ones_like(imgs)).tolist()
    parts = kept.split(counts)
    return [part[:max_per_img] for part in parts] if max_per_img > 0 else list(parts)
