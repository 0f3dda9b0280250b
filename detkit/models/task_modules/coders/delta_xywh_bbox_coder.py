"""(dx, dy, dw, dh) box deltas relative to priors, as in R-CNN and MMDetection."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from detkit.registry import TASK_UTILS
from detkit.structures import xyxy_to_cxcywh
from detkit.structures.bbox import clip_bboxes


@TASK_UTILS.register_module()
class DeltaXYWHBBoxCoder:
    """Encode xyxy boxes as normalised deltas to priors, and decode them back.

    ``dx = (gx - px) / pw``, ``dy = (gy - py) / ph``, ``dw = log(gw / pw)``,
    ``dh = log(gh / ph)`` with centres ``(x, y)`` and sizes ``(w, h)``; the
    deltas are then normalised: ``(d - target_means) / target_stds``.

    Args:
        target_means, target_stds: per-coordinate normalisation of the deltas.
        clip_border: clip decoded boxes to ``max_shape`` when one is given.
        add_ctr_clamp: clamp the decoded centre shift to ``±ctr_clamp`` pixels
            (and ``dw``, ``dh`` only from above).
        ctr_clamp: the centre-shift bound in pixels; ``None`` leaves the centre
            free, so that only ``dw``, ``dh`` are clamped from above (torchvision's
            ``BoxCoder``).
    """

    encode_size = 4

    def __init__(self, target_means: Sequence[float] = (0., 0., 0., 0.),
                 target_stds: Sequence[float] = (1., 1., 1., 1.), clip_border: bool = True,
                 add_ctr_clamp: bool = False, ctr_clamp: Optional[float] = 32) -> None:
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError(f'DeltaXYWHBBoxCoder needs 4 target_means and 4 target_stds, '
                             f'got {list(target_means)!r} and {list(target_stds)!r}')
        if any(s <= 0 for s in target_stds):
            raise ValueError(f'DeltaXYWHBBoxCoder target_stds must be positive, '
                             f'got {list(target_stds)!r}')
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.clip_border = clip_border
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def encode(self, bboxes: Tensor, gt_bboxes: Tensor) -> Tensor:
        """Deltas ``[..., 4]`` that move priors ``bboxes [..., 4]`` onto ``gt_bboxes [..., 4]``."""
        if bboxes.size(-1) != 4 or gt_bboxes.size(-1) != 4:
            raise ValueError(f'DeltaXYWHBBoxCoder.encode expects [..., 4] boxes, got '
                             f'{tuple(bboxes.shape)} and {tuple(gt_bboxes.shape)}')
        priors = xyxy_to_cxcywh(bboxes.float())
        gts = xyxy_to_cxcywh(gt_bboxes.float())
        dxy = (gts[..., :2] - priors[..., :2]) / priors[..., 2:]
        dwh = torch.log(gts[..., 2:] / priors[..., 2:])
        deltas = torch.cat([dxy, dwh], dim=-1)
        return (deltas - deltas.new_tensor(self.means)) / deltas.new_tensor(self.stds)

    def decode(self, bboxes: Tensor, pred_bboxes: Tensor,
               max_shape: Optional[Union[Tuple[int, int], Tensor]] = None,
               wh_ratio_clip: float = 16 / 1000) -> Tensor:
        """Boxes ``[..., 4]`` xyxy from priors ``bboxes`` and deltas ``pred_bboxes``.

        Args:
            bboxes: ``[..., 4]`` xyxy priors, broadcastable with ``pred_bboxes``.
            pred_bboxes: ``[..., 4]`` normalised deltas.
            max_shape: ``(H, W)`` to clip to, or for ``[B, N, 4]`` inputs a
                ``[B, 2]`` tensor of per-image ``(H, W)``.
            wh_ratio_clip: ``|dw|``, ``|dh|`` are clamped to ``|log(wh_ratio_clip)|``.
        """
        deltas = pred_bboxes * pred_bboxes.new_tensor(self.stds) \
            + pred_bboxes.new_tensor(self.means)
        dxy, dwh = deltas[..., :2], deltas[..., 2:]
        pxy = (bboxes[..., :2] + bboxes[..., 2:]) * 0.5
        pwh = bboxes[..., 2:] - bboxes[..., :2]
        dxy_wh = pwh * dxy
        max_ratio = abs(math.log(wh_ratio_clip))
        if self.add_ctr_clamp:
            if self.ctr_clamp is not None:
                dxy_wh = dxy_wh.clamp(min=-self.ctr_clamp, max=self.ctr_clamp)
            dwh = dwh.clamp(max=max_ratio)
        else:
            dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
        gxy = pxy + dxy_wh
        half_wh = pwh * dwh.exp() * 0.5
        boxes = torch.cat([gxy - half_wh, gxy + half_wh], dim=-1)
        if self.clip_border and max_shape is not None:
            boxes = clip_bboxes(boxes, max_shape)
        return boxes
