import numpy as np
import torch

from detkit.engine import EpochSeedHook
from detkit.engine.hooks.epoch_seed_hook import epoch_seed
from .toy import toy_runner


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
