"""The synthetic images, ground truths and head outputs both frameworks are fed."""
import math
from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import Tensor


@dataclass
class Batch:
    """One batch in a framework-neutral form.

    Attributes:
        images: ``uint8 [B, 3, H, W]`` BGR (detkit's input; torchvision gets
            the same pixels as float RGB in [0, 1]).
        boxes: per image ``float32 [G, 4]`` xyxy pixels, non-degenerate.
        labels: per image ``int64 [G]`` in ``0..num_classes-1``.
    """

    images: Tensor
    boxes: List[Tensor]
    labels: List[Tensor]

    @property
    def size(self) -> Tuple[int, int]:
        return tuple(self.images.shape[-2:])

    def __len__(self) -> int:
        return self.images.shape[0]


def make_batch(batch_size: int, height: int, width: int, num_boxes: int, num_classes: int,
               seed: int = 0) -> Batch:
    """Random images and ``num_boxes`` random boxes per image (8 px to half the image)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size, 3, height, width), dtype=torch.uint8,
                           generator=gen)
    boxes, labels = [], []
    short = min(height, width)
    for _ in range(batch_size):
        wh = 8 + torch.rand(num_boxes, 2, generator=gen) * max(short / 2 - 8, 1)
        ctr = torch.rand(num_boxes, 2, generator=gen) * torch.tensor([width, height])
        xy1 = (ctr - wh / 2).clamp(min=0)
        xy2 = torch.minimum(ctr + wh / 2, torch.tensor([float(width), float(height)]))
        xy2 = torch.maximum(xy2, xy1 + 2)
        boxes.append(torch.cat([xy1, xy2], dim=1))
        labels.append(torch.randint(0, num_classes, (num_boxes,), generator=gen))
    return Batch(images, boxes, labels)


def level_sizes(height: int, width: int, strides=(8, 16, 32, 64, 128)) -> List[Tuple[int, int]]:
    """Feature-map sizes of P3..P7 for a (padded to 32) input of ``height × width``."""
    pad_h, pad_w = math.ceil(height / 32) * 32, math.ceil(width / 32) * 32
    return [(math.ceil(pad_h / s), math.ceil(pad_w / s)) for s in strides]


def make_head_outputs(batch_size: int, height: int, width: int, num_classes: int,
                      num_anchors: int = 9, seed: int = 0, logit_mean: float = -5.0,
                      logit_std: float = 1.5) -> Tuple[List[Tensor], List[Tensor]]:
    """Fixed head outputs in detkit's layout, per level ``[B, A*K, H, W]`` and ``[B, A*4, H, W]``.

    Logits ~ N(-5, 1.5): about 8 % of the scores pass a 0.05 threshold, so
    every level fills its 1000 top-k candidates and NMS sees thousands of
    boxes per image. Deltas ~ N(0, 0.2): boxes stay near their anchors and
    overlap, so NMS has real work.
    """
    gen = torch.Generator().manual_seed(seed)
    cls, reg = [], []
    for h, w in level_sizes(height, width):
        cls.append(torch.randn(batch_size, num_anchors * num_classes, h, w, generator=gen)
                   * logit_std + logit_mean)
        reg.append(torch.randn(batch_size, num_anchors * 4, h, w, generator=gen) * 0.2)
    return cls, reg


def flat_head_outputs(maps: List[Tensor], channels: int) -> Tensor:
    """Per-level ``[B, A*C, H, W]`` → ``[B, Σ H*W*A, C]``: what torchvision's head does
    after its last convs (a permuting copy per level, then a concatenation)."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(m.shape[0], -1, channels) for m in maps],
                     dim=1)
