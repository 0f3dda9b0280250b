"""Hooks that configs in these tests name through ``custom_imports``."""
import os
import time

import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook

from detkit.registry import HOOKS


def _rank() -> int:
    return torch_dist.get_rank() if torch_dist.is_initialized() else 0


@HOOKS.register_module()
class RecordParamsHook(Hook):
    """Counts training iterations; saves each rank's parameters at the end."""

    def __init__(self):
        self.calls = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.calls += 1

    def after_train(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        torch.save(dict(calls=self.calls,
                        params={k: v.detach() for k, v in model.named_parameters()}),
                   os.path.join(runner.work_dir, f'rank{_rank()}_params.pt'))


@HOOKS.register_module()
class FailOnRankHook(Hook):
    """On ``rank``, before training iteration ``at`` (1-based): raise, or hang."""

    def __init__(self, rank=1, at=2, hang=False):
        self.rank, self.at, self.hang = rank, at, hang

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if _rank() == self.rank and runner.iter + 1 == self.at:
            if self.hang:
                time.sleep(600)
            raise ValueError(f'deliberate failure on rank {self.rank}')
