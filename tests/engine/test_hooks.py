import logging

import numpy as np
import pytest
import torch

from detkit.engine import EpochSeedHook, NonFiniteLossError
from detkit.engine.hooks.epoch_seed_hook import epoch_seed
from .toy import ToyModel, toy_runner


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


def test_epoch_seed_depends_on_seed_and_epoch_only():
    assert epoch_seed(0, 1) == epoch_seed(0, 1)
    assert len({epoch_seed(0, 0), epoch_seed(0, 1), epoch_seed(1, 0)}) == 3


def test_epoch_seed_hook_reseeds_numpy_and_torch():
    class FakeRunner:
        seed, epoch = 5, 2

    draws = []
    for _ in range(2):
        np.random.rand(3)  # whatever ran before the epoch
        EpochSeedHook().before_train_epoch(FakeRunner)
        draws.append((np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]


def test_resume_at_an_epoch_boundary_equals_training_straight(tmp_path):
    straight = toy_runner(tmp_path / 'a', max_epochs=2)
    straight.train()
    first = toy_runner(tmp_path / 'b', max_epochs=1)
    first.train()
    resumed = toy_runner(tmp_path / 'b', max_epochs=2, resume=True,
                         load_from=str(tmp_path / 'b' / 'epoch_1.pth'))
    resumed.train()
    for (name, a), b in zip(straight.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
