"""GFL's projection of per-side distance distributions onto distances."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detkit.registry import MODELS


@MODELS.register_module()
class Integral(nn.Module):
    """Expected value of a discrete distribution over the bins ``0, 1, ..., reg_max``.

    GFL predicts, for each of the four box sides, logits over ``reg_max + 1``
    bins; the side's distance (in stride units) is ``sum_i softmax(x)_i * i``.
    The bin values are the buffer ``project`` (``[reg_max + 1]``), which
    MMDetection checkpoints store as ``bbox_head.integral.project``.

    Args:
        reg_max: the largest bin value.
    """

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        if int(reg_max) != reg_max or reg_max < 1:
            raise ValueError(f'Integral reg_max must be a positive integer, got {reg_max!r}')
        self.reg_max = int(reg_max)
        self.register_buffer('project', torch.linspace(0, self.reg_max, self.reg_max + 1))

    def forward(self, x: Tensor) -> Tensor:
        """Distances ``[..., 4]`` (l, t, r, b) in bins from logits ``[..., 4 * (reg_max + 1)]``.

        The logits are side-major: bins ``s * (reg_max + 1) + i`` belong to side ``s``.
        """
        bins = self.reg_max + 1
        if x.size(-1) != 4 * bins:
            raise ValueError(f'Integral(reg_max={self.reg_max}) expects [..., {4 * bins}] '
                             f'logits (4 sides x {bins} bins), got {tuple(x.shape)}')
        prob = F.softmax(x.reshape(*x.shape[:-1], 4, bins), dim=-1)
        return F.linear(prob, self.project.type_as(prob)[None]).squeeze(-1)

    def extra_repr(self) -> str:
        return f'reg_max={self.reg_max}'
