import pytest
import torch
from torch import nn

from detkit.engine import CPUAmpOptimWrapper, GuardedOptimWrapper


def _wrapper(cls=GuardedOptimWrapper, **kwargs):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    return model, cls(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_cpu_amp_runs_the_forward_in_bf16_and_keeps_fp32_parameters():
    model, wrapper = _wrapper(CPUAmpOptimWrapper)
    with wrapper.optim_context(model):
        out = model(torch.ones(2, 3))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().sum())
    assert model.weight.dtype == torch.float32


def test_cpu_amp_refuses_float16():
    with pytest.raises(ValueError, match='bfloat16'):
        _wrapper(CPUAmpOptimWrapper, dtype='float16')
