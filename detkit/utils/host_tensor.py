"""Small host values (image sizes, scale factors) to the device without a host sync."""
from typing import Any, Union

import torch
from torch import Tensor


def host_tensor(data: Any, dtype: torch.dtype,
                device: Union[str, torch.device, None] = None) -> Tensor:
    """``torch.tensor(data, dtype=dtype)`` on ``device``, copied without waiting.

    ``torch.tensor(data, device='cuda')`` copies from pageable memory and then
    waits for the stream, i.e. for every kernel launched before it. Here the
    values are staged in pinned memory and copied asynchronously on the
    current stream (torch's pinned-memory cache keeps the staging buffer
    until the copy has run). On the CPU it is ``torch.tensor``.
    """
    values = torch.tensor(data, dtype=dtype)
    device = torch.device(device) if device is not None else values.device
    if device.type == 'cuda':
        return values.pin_memory().to(device, non_blocking=True)
    return values.to(device)
