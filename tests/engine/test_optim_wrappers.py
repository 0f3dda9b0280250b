import math

import pytest
import torch
from torch import nn

from detkit.engine import CPUAmpOptimWrapper, GuardedOptimWrapper
from detkit.registry import OPTIM_WRAPPERS


def _wrapper(cls=GuardedOptimWrapper, **kwargs):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    return model, cls(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_nonfinite_loss_is_not_applied_and_counted():
    model, wrapper = _wrapper()
    before = [p.detach().clone() for p in model.parameters()]
    wrapper.update_params(model(torch.ones(2, 3)).sum() * math.nan)
    assert not wrapper.last_loss_finite and wrapper.skipped_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    wrapper.update_params(model(torch.ones(2, 3)).sum())
    assert wrapper.last_loss_finite
    assert not torch.equal(before[0], model.weight)


def test_skipped_micro_batch_keeps_accumulation_aligned():
    model, wrapper = _wrapper(accumulative_counts=2)
    wrapper.update_params(model(torch.ones(1, 3)).sum())
    wrapper.update_params(model(torch.ones(1, 3)).sum() * math.inf)
    assert wrapper._inner_count == 2
    assert model.weight.grad is None or not model.weight.grad.any()


def test_built_from_config_with_clip_grad_and_skip_flag():
    model = nn.Linear(3, 1)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='GuardedOptimWrapper', optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        clip_grad=dict(max_norm=1.0), skip_nonfinite=True))
    assert wrapper.skip_nonfinite and wrapper.clip_grad_kwargs == dict(max_norm=1.0)


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
