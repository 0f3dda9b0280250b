"""Index helpers over per-level dense-head maps ``[B, A*C, H, W]`` (NCHW or channels-last).

Priors are numbered per image in ``(level, y, x, base prior)`` order, as the
prior generators lay them out.
"""
from typing import List, Tuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence


def flatten_levels(maps: List[Tensor], channels: int) -> Tensor:
    """``[B, A*C, H, W]`` per level → ``[B, Σ H*W*A, C]``, order (level, y, x, prior).

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
    storage, no copy), and the positions are turned into prior indices in
    ``(y, x, prior)`` order and class labels. The same entries as a top-k
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
        ``logits [B, k']``, ``prior_idx [B, k']``, ``labels [B, k']``, unsorted,
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
    prior = pixel * (channels // num_classes) + torch.div(channel, num_classes,
                                                          rounding_mode='floor')
    return logits, prior, channel % num_classes


def gather_priors(maps: Tensor, prior_idx: Tensor, channels: int) -> Tensor:
    """The ``channels`` values of the priors ``prior_idx [B, k]`` of a ``[B, A*C, H, W]`` map.

    Reads the map in place (NCHW or channels-last), so only ``[B, k, C]``
    values are copied. Prior ``i`` is location ``i // A``, base prior ``i % A``.
    """
    num_imgs, total, height, width = maps.shape
    num_base = total // channels
    pixel = torch.div(prior_idx, num_base, rounding_mode='floor').unsqueeze(-1)
    channel = (prior_idx % num_base).unsqueeze(-1) * channels + torch.arange(
        channels, device=maps.device)
    img = torch.arange(num_imgs, device=maps.device).view(-1, 1, 1)
    if _is_channels_last(maps):
        return maps.permute(0, 2, 3, 1).reshape(num_imgs, height * width, total)[
            img, pixel, channel]
    return maps.reshape(num_imgs, total, height * width)[img, channel, pixel]
