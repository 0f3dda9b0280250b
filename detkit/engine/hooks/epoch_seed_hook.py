"""Seed every random generator from (seed, epoch) at the start of each epoch."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from detkit.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed ``random``, numpy and torch before each training epoch.

    mmengine seeds the generators once, when the Runner is built, and does
    not save their state in checkpoints; after a resume the data
    augmentation would draw different numbers than the uninterrupted run.
    Seeding each epoch from ``(runner.seed, epoch)`` makes an epoch's
    randomness independent of what ran before it (validation included), so
    training resumed at an epoch boundary is identical to training straight
    through. The seed itself is stored in the checkpoint by mmengine.

    Dataloader workers are reseeded by mmengine's ``worker_init_fn`` when
    they start; with ``persistent_workers=True`` they keep their generators
    across epochs and a resumed run differs from an uninterrupted one.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        if runner.seed is None:
            return
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
