"""The ground truths of a batch, padded to fixed shapes for the batched loss path."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from detkit.utils.host_tensor import host_tensor

DeviceLike = Union[str, torch.device, None]


def _pad_rows(rows: List[Tensor], capacity: Optional[int], width: int, dtype: torch.dtype,
              device: DeviceLike) -> Tuple[Tensor, Tensor]:
    """Per-image ``[n_i, width]`` rows → ``[B, C, width]`` zeros-padded, and the ``[B, C]`` mask.

    ``C`` is ``capacity`` if given, else the largest ``n_i``. Only Python-side
    sizes are read: no device-to-host synchronisation.
    """
    counts = [len(r) for r in rows]
    size = max(counts, default=0) if capacity is None else capacity
    if rows:
        padded = pad_sequence([r.reshape(-1, width) for r in rows], batch_first=True)
    else:
        padded = torch.zeros(0, 0, width, dtype=dtype, device=device)
    if padded.size(1) < size:
        padded = torch.nn.functional.pad(padded, (0, 0, 0, size - padded.size(1)))
    counts_t = torch.tensor(counts, device=padded.device)
    valid = torch.arange(size, device=padded.device).unsqueeze(0) < counts_t.unsqueeze(1)
    return padded, valid


@dataclass
class GtBatch:
    """Ground truths of ``B`` images, padded to ``G`` (and ``I``) slots.

    Attributes:
        bboxes: ``[B, G, 4]`` float32 xyxy; padding slots are zeros.
        labels: ``[B, G]`` int64; padding slots are 0.
        valid: ``[B, G]`` bool, False for padding.
        pad_shapes: ``[B, 2]`` ``(H, W)`` of each image's padded input: priors
            whose location lies beyond it are invalid.
        ignore_bboxes: ``[B, I, 4]`` xyxy regions whose priors are ignored
            (COCO crowd boxes), or None.
        ignore_valid: ``[B, I]`` bool, or None.
        num_dropped: gts beyond ``capacity`` left out when the batch was
            built with a fixed capacity (counted on the host).
    """

    bboxes: Tensor
    labels: Tensor
    valid: Tensor
    pad_shapes: Tensor
    ignore_bboxes: Optional[Tensor] = None
    ignore_valid: Optional[Tensor] = None
    num_dropped: int = 0

    @property
    def num_imgs(self) -> int:
        return self.bboxes.size(0)

    @classmethod
    def from_instances(cls, batch_gt_instances: Sequence, batch_img_metas: Sequence[dict],
                       batch_gt_instances_ignore: Optional[Sequence] = None,
                       device: DeviceLike = None, capacity: Optional[int] = None,
                       ignore_capacity: Optional[int] = None) -> 'GtBatch':
        """Pad per-image ``InstanceData`` (``bboxes [G_i, 4]``, ``labels [G_i]``).

        Args:
            batch_gt_instances: per image the gts.
            batch_img_metas: per image a dict with ``pad_shape (H, W, ...)``.
            batch_gt_instances_ignore: per image ignore regions (``bboxes``) or None.
            device: where the tensors go (default: where the boxes are).
            capacity: fixed ``G`` (for static shapes); an image with more gts
                keeps its first ``capacity`` and the rest are counted in
                ``num_dropped``. Default: the largest ``G_i``.
            ignore_capacity: the same for the ignore regions.
        """
        boxes = [torch.as_tensor(g.bboxes, dtype=torch.float32, device=device).reshape(-1, 4)
                 for g in batch_gt_instances]
        labels = [torch.as_tensor(g.labels, dtype=torch.long, device=device).reshape(-1)
                  for g in batch_gt_instances]
        dropped = 0
        if capacity is not None:
            dropped = sum(max(len(b) - capacity, 0) for b in boxes)
            boxes, labels = [b[:capacity] for b in boxes], [lb[:capacity] for lb in labels]
        device = boxes[0].device if boxes else device
        padded_boxes, valid = _pad_rows(boxes, capacity, 4, torch.float32, device)
        padded_labels = _pad_rows([lb[:, None] for lb in labels], capacity, 1, torch.long,
                                  device)[0].squeeze(-1)
        pad_shapes = host_tensor([tuple(m['pad_shape'][:2]) for m in batch_img_metas],
                                 torch.long, device).reshape(-1, 2)
        ignore_boxes = ignore_valid = None
        if batch_gt_instances_ignore is not None and any(
                g is not None and len(g) for g in batch_gt_instances_ignore):
            rows = [torch.zeros(0, 4, device=device) if g is None else
                    torch.as_tensor(g.bboxes, dtype=torch.float32, device=device).reshape(-1, 4)
                    for g in batch_gt_instances_ignore]
            if ignore_capacity is not None:
                dropped += sum(max(len(r) - ignore_capacity, 0) for r in rows)
                rows = [r[:ignore_capacity] for r in rows]
            ignore_boxes, ignore_valid = _pad_rows(rows, ignore_capacity, 4, torch.float32,
                                                   device)
        return cls(bboxes=padded_boxes, labels=padded_labels, valid=valid, pad_shapes=pad_shapes,
                   ignore_bboxes=ignore_boxes, ignore_valid=ignore_valid, num_dropped=dropped)

    @classmethod
    def of(cls, batch_gt_instances: Union['GtBatch', Sequence],
           batch_img_metas: Optional[Sequence[dict]] = None,
           batch_gt_instances_ignore: Optional[Sequence] = None,
           device: DeviceLike = None) -> 'GtBatch':
        """``batch_gt_instances`` itself if it is a ``GtBatch``, else :meth:`from_instances`."""
        if isinstance(batch_gt_instances, GtBatch):
            return batch_gt_instances
        if batch_img_metas is None:
            raise ValueError('per-image gt instances need batch_img_metas (for pad_shape)')
        return cls.from_instances(batch_gt_instances, batch_img_metas,
                                  batch_gt_instances_ignore, device=device)
