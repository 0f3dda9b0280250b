"""A learnable scalar factor, one per FPN level in FCOS / ATSS / GFL heads."""
import torch
from torch import Tensor, nn

from detkit.registry import MODELS


@MODELS.register_module()
class Scale(nn.Module):
    """Multiply the input by a learnable scalar ``scale`` (mmcv's ``Scale``).

    Heads that share their convolutions across levels give each level one,
    so that each can adapt its regression range. The parameter is a 0-d
    tensor named ``scale``, as in MMDetection checkpoints
    (``bbox_head.scales.0.scale``).

    Args:
        scale: initial value.
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x: Tensor) -> Tensor:
        """``x * scale``, any shape."""
        return x * self.scale
