import torch
from torch import nn

from detkit.models.layers import Scale
from detkit.registry import MODELS


def test_scalar_parameter_named_like_mmdetection():
    scales = nn.ModuleList([MODELS.build(dict(type='Scale', scale=1.0)) for _ in range(5)])
    state = scales.state_dict()
    assert list(state) == [f'{i}.scale' for i in range(5)]
    assert all(v.shape == () and v.dtype == torch.float32 for v in state.values())


def test_multiplies_and_learns():
    scale = Scale(2.5)
    x = torch.arange(6.).view(1, 2, 3)
    assert torch.equal(scale(x), x * 2.5)
    scale(x).sum().backward()
    assert scale.scale.grad.item() == x.sum().item()
    assert Scale().scale.item() == 1.0
