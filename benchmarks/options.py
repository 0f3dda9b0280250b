"""Settings shared by both sides of a benchmark, and small torch helpers."""
import contextlib
import os
from dataclasses import dataclass
from typing import ContextManager

import torch

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'configs', '_base_', 'models', 'retinanet_r50_fpn.py')


@dataclass
class BenchOptions:
    """What to build and how to run it.

    ``channels_last``, ``fuse_bn`` and ``compile`` are detkit's
    optimizations; ``amp`` applies to both sides; ``tv_channels_last`` gives
    torchvision channels_last too, for a like-for-like check of that setting.
    """

    device: str = 'cpu'
    num_classes: int = 80
    config: str = DEFAULT_CONFIG
    channels_last: bool = True
    fuse_bn: bool = True
    compile: bool = False
    amp: bool = False
    tv_channels_last: bool = False
    max_per_img: int = 100

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)


def autocast(device: torch.device, enabled: bool) -> ContextManager:
    """Mixed precision: float16 on CUDA, bfloat16 on the CPU; a null context when off."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)
