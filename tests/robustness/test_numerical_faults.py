"""Non-finite losses: stop with the facts and a hint, or skip and count; clipping."""
import math

import pytest
import torch
from torch import nn

from detkit.engine import NonFiniteLossError
from detkit.registry import OPTIM_WRAPPERS
from engine.test_optim_wrappers import _wrapper
from engine.toy import ToyModel, toy_runner


def test_nonfinite_loss_stops_with_iteration_terms_lr_and_hint(tmp_path):
    runner = toy_runner(tmp_path, model=ToyModel(nan_at={3}))
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert 'iteration 3 (epoch 1)' in msg
    assert 'loss_a=nan' in msg and 'loss_b=' in msg and 'lr=' in msg
    assert 'clip_grad' in msg and 'skip_nonfinite=True' in msg
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_skip_nonfinite_skips_counts_and_finishes(tmp_path, caplog):
    wrapper = dict(type='GuardedOptimWrapper', skip_nonfinite=True,
                   optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
    runner = toy_runner(tmp_path, model=ToyModel(nan_at={2, 5}), optim_wrapper=wrapper)
    runner.train()
    assert runner.iter == 8 and runner.optim_wrapper.skipped_steps == 2
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_plain_optim_wrapper_also_stops_and_says_the_step_was_applied(tmp_path):
    wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
    runner = toy_runner(tmp_path, model=ToyModel(nan_at={1}), optim_wrapper=wrapper)
    with pytest.raises(NonFiniteLossError, match='update was applied'):
        runner.train()


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
