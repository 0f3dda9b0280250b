"""Tensor helpers shared by dense heads: padding gts, flattening levels, NMS."""
import itertools
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
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
    """``[B, A*C, H, W]`` per level → ``[B, Σ H*W*A, C]``, order (level, y, x, anchor).

    One copy in all: each level becomes a ``[B, H*W, A*C]`` view (no copy,
    whatever the memory format) and the concatenation writes them out once.
    """
    num_imgs = maps[0].shape[0]
    if len(maps) == 1:
        return maps[0].permute(0, 2, 3, 1).reshape(num_imgs, -1, channels)
    flat = torch.cat([m.permute(0, 2, 3, 1).flatten(1, 2) for m in maps], dim=1)
    return flat.view(num_imgs, -1, channels)


def _is_channels_last(maps: Tensor) -> bool:
    return maps.is_contiguous(memory_format=torch.channels_last)


def _topk_above(flat: Tensor, k: int, min_logit: float) -> Tuple[Tensor, Tensor]:
    """Per row, the ``k`` largest entries among those above ``min_logit`` (CPU).

    The survivors are gathered first and padded with ``-inf``; the top-k then
    runs on them only. Rows with fewer survivors are filled up with ``-inf``
    entries; the result has ``min(k, most survivors in a row)`` columns.
    """
    num_imgs, per_img = flat.shape
    pos = (flat > min_logit).view(-1).nonzero().squeeze(1)
    counts = torch.bincount(torch.div(pos, per_img, rounding_mode='floor'),
                            minlength=num_imgs).tolist()
    logits = pad_sequence(flat.reshape(-1)[pos].split(counts), batch_first=True,
                          padding_value=float('-inf'))
    pos = pad_sequence(pos.split(counts), batch_first=True, padding_value=0)
    if logits.shape[1] == 0:  # no survivors at all
        return logits, pos
    logits, col = logits.topk(min(k, logits.shape[1]), dim=1, sorted=False)
    row_start = torch.arange(num_imgs, device=flat.device).unsqueeze(1) * per_img
    return logits, pos.gather(1, col) - row_start


def topk_per_image(cls_score: Tensor, num_classes: int, k: int,
                   min_logit: float = float('-inf')) -> Tuple[Tensor, Tensor, Tensor]:
    """The ``k`` largest logits of each image of one level, without reordering the map.

    The map is searched in its memory order (a view of NCHW or channels-last
    storage, no copy), and the positions are turned into anchor indices in
    ``(y, x, anchor)`` order and class labels. The same entries as a top-k
    over the flattened ``[B, H*W*A*K]`` scores, up to the order of ties.

    On the CPU, for large levels, entries not above ``min_logit`` (those the
    caller's score threshold drops anyway) are left out before the top-k,
    which then sorts far fewer values; the entries kept above ``min_logit``
    are the same.

    Args:
        cls_score: ``[B, A*K, H, W]`` logits.
        num_classes: ``K``.
        k: entries per image (``<= 0`` or more than there are: all).
        min_logit: entries at or below it may be left out.

    Returns:
        ``logits [B, k']``, ``anchor_idx [B, k']``, ``labels [B, k']``, unsorted,
        ``k' <= k``; padding entries (CPU, rows with fewer survivors) have logit ``-inf``.
    """
    num_imgs, channels, height, width = cls_score.shape
    channels_last = _is_channels_last(cls_score)
    if channels_last:
        flat = cls_score.permute(0, 2, 3, 1).reshape(num_imgs, -1)  # (y, x, a, k)
    else:
        flat = cls_score.reshape(num_imgs, -1)  # (a, k, y, x)
    k = flat.shape[1] if k <= 0 else min(k, flat.shape[1])
    # the pre-selection pays off where torch's top-k runs a partial sort (n >= 64 k)
    if flat.is_cuda or min_logit == float('-inf') or flat.shape[1] < 64 * k:
        logits, idx = flat.topk(k, dim=1, sorted=False)
    else:
        logits, idx = _topk_above(flat, k, min_logit)
    if channels_last:
        return logits, torch.div(idx, num_classes, rounding_mode='floor'), idx % num_classes
    pixel = idx % (height * width)
    channel = torch.div(idx, height * width, rounding_mode='floor')
    anchor = pixel * (channels // num_classes) + torch.div(channel, num_classes,
                                                           rounding_mode='floor')
    return logits, anchor, channel % num_classes


def gather_anchors(maps: Tensor, anchor_idx: Tensor, channels: int) -> Tensor:
    """The ``channels`` values of the anchors ``anchor_idx [B, k]`` of a ``[B, A*C, H, W]`` map.

    Reads the map in place (NCHW or channels-last), so only ``[B, k, C]``
    values are copied. Anchor ``i`` is location ``i // A``, base anchor ``i % A``.
    """
    num_imgs, total, height, width = maps.shape
    num_base = total // channels
    pixel = torch.div(anchor_idx, num_base, rounding_mode='floor').unsqueeze(-1)
    channel = (anchor_idx % num_base).unsqueeze(-1) * channels + torch.arange(
        channels, device=maps.device)
    img = torch.arange(num_imgs, device=maps.device).view(-1, 1, 1)
    if _is_channels_last(maps):
        return maps.permute(0, 2, 3, 1).reshape(num_imgs, height * width, total)[
            img, pixel, channel]
    return maps.reshape(num_imgs, total, height * width)[img, channel, pixel]


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
