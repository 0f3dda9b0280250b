"""Turns a collated list of uint8 images into one normalised, padded batch."""
import math
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from detkit.registry import MODELS


@MODELS.register_module()
class DetDataPreprocessor(BaseDataPreprocessor):
    """Move to device, BGR→RGB, ``(x - mean) / std``, pad bottom/right, stack.

    Input ``data`` is what mmengine's ``pseudo_collate`` makes of
    ``PackDetInputs`` outputs: ``inputs`` a list of ``uint8 [3, H_i, W_i]``
    (or an already stacked ``[B, 3, H, W]`` tensor) and ``data_samples`` a
    list of :class:`~detkit.structures.DetDataSample`.

    Output: ``inputs`` float32 ``[B, 3, H, W]`` where ``H``, ``W`` are the
    largest image sizes rounded up to ``pad_size_divisor``; padding holds
    ``pad_value`` *after* normalisation (0 by default, as MMDetection). Every
    data sample gets ``batch_input_shape (H, W)`` and its own ``pad_shape``
    (its size rounded up to the divisor), which decides which anchors are
    valid for it.

    Args:
        mean, std: per-channel statistics in the *output* channel order
            (RGB when ``bgr_to_rgb``), on 0–255 pixels. ``None`` skips
            normalisation.
        bgr_to_rgb: reverse the channel order first.
        pad_size_divisor: pad each side up to a multiple of this.
        pad_value: value of the padded pixels.
        non_blocking: host→device copies that do not wait (default): a batch in
            pinned memory (``pin_memory=True``, detkit's default with CUDA)
            is copied while the previous step's kernels still run.
    """

    def __init__(self, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False, pad_size_divisor: int = 1,
                 pad_value: float = 0, non_blocking: bool = True) -> None:
        super().__init__(non_blocking)
        if (mean is None) != (std is None):
            raise ValueError('DetDataPreprocessor: give both mean and std, or neither')
        if bgr_to_rgb and rgb_to_bgr:
            raise ValueError('DetDataPreprocessor: bgr_to_rgb and rgb_to_bgr cannot both be True')
        if not isinstance(pad_size_divisor, int) or pad_size_divisor < 1:
            raise ValueError(f'DetDataPreprocessor: pad_size_divisor must be a positive int, '
                             f'got {pad_size_divisor!r}')
        self.normalize = mean is not None
        if self.normalize:
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)
        self.swap_channels = bgr_to_rgb or rgb_to_bgr
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value

    def _round_up(self, size: int) -> int:
        return int(math.ceil(size / self.pad_size_divisor)) * self.pad_size_divisor

    def _normalize(self, img: torch.Tensor) -> torch.Tensor:
        """``[..., 3, H, W]`` any dtype → float32, channels swapped and normalised."""
        if self.swap_channels:
            img = img.flip(-3)
        img = img.float()
        if self.normalize:
            img = (img - self.mean) / self.std
        return img

    def forward(self, data: dict, training: bool = False) -> dict:
        """Return ``dict(inputs=[B, 3, H, W] float32, data_samples=list)``."""
        data = self.cast_data(data)
        inputs = data['inputs']
        samples = data.get('data_samples')
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs) if inputs.dim() == 4 else [inputs]
        if not inputs:
            raise ValueError('DetDataPreprocessor received an empty batch')
        sizes: List[tuple] = [tuple(img.shape[-2:]) for img in inputs]
        batch_h = self._round_up(max(h for h, _ in sizes))
        batch_w = self._round_up(max(w for _, w in sizes))
        if all(s == (batch_h, batch_w) for s in sizes):
            batch = self._normalize(torch.stack(inputs))
        else:
            batch = inputs[0].new_full((len(inputs), inputs[0].shape[0], batch_h, batch_w),
                                       self.pad_value, dtype=torch.float32)
            for i, img in enumerate(inputs):
                batch[i, :, :img.shape[-2], :img.shape[-1]] = self._normalize(img)
        if samples is not None:
            for sample, (h, w) in zip(samples, sizes):
                sample.set_metainfo(dict(batch_input_shape=(batch_h, batch_w),
                                         pad_shape=(self._round_up(h), self._round_up(w))))
        return dict(inputs=batch, data_samples=samples)
