"""Per-image gt instances stacked into padded batch tensors (plus a validity mask)."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


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
