"""The optimizer update inside a CUDA graph, with learning rates read from device tensors.

A graph replays its kernels with the arguments they were recorded with. An
optimizer step recorded with ``group['lr']`` a Python float would replay that
lr for ever, while mmengine's parameter schedulers write a new float into
every group after each iteration. So while the step is recorded, each group's
``lr`` is a one-element tensor on the parameters' device; before each replay
the schedulers' floats are copied into them (one asynchronous copy, no host
sync), and the float is back in the group for the schedulers and the log.

Only fused optimizers read a tensor lr without a host sync (their kernels
take it by pointer; the ``foreach`` SGD turns it into a Python number), and
only they take a ``GradScaler``'s inf check on the device: fused SGD, Adam
and AdamW qualify (``fused=True``, which detkit sets on CUDA). Everything
else a group holds (momentum, betas, weight decay, eps) is recorded as a
constant: :meth:`GraphLRs.stale` tells when a scheduler has changed one, and
the step is then recorded again.
"""
import contextlib
from typing import Callable, Dict, Iterator, List, Optional

import torch
from torch import Tensor


def update_capture_blocker(optimizer: torch.optim.Optimizer) -> Optional[str]:
    """Why ``optimizer.step()`` cannot be recorded in a CUDA graph; None when it can."""
    name = type(optimizer).__name__
    if not isinstance(optimizer, (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)):
        return f'{name} is not one of SGD, Adam, AdamW'
    if not all(group.get('fused') for group in optimizer.param_groups):
        return f'{name} is not fused (optim_wrapper.optimizer.fused=True)'
    return None


def _hyperparameters(group: dict) -> Dict[str, object]:
    """What a recorded step keeps as constants: every scalar setting but the lr."""
    return {key: value for key, value in group.items()
            if key not in ('params', 'lr') and isinstance(value, (bool, int, float, tuple))}


class GraphLRs:
    """The learning rates of an optimizer's groups as device tensors, for a recorded step.

    Args:
        optimizer: a fused SGD, Adam or AdamW (see :func:`update_capture_blocker`).
        device: where its parameters are.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
        self.optimizer = optimizer
        self.flat = torch.zeros(len(optimizer.param_groups), device=device)
        self.lrs: List[Tensor] = list(self.flat.unbind(0))  # 0-dim views, one per group
        self._recorded: List[Dict[str, object]] = []

    def load(self) -> None:
        """Copy the groups' current lrs into their tensors (before a replay).

        One asynchronous copy from pinned memory, however many groups
        (``paramwise_cfg`` may make one per parameter); torch's pinned-memory
        cache keeps the staging buffer until the copy has run.
        """
        values = torch.tensor([float(g['lr']) for g in self.optimizer.param_groups])
        if self.flat.is_cuda:
            values = values.pin_memory()
        self.flat.copy_(values, non_blocking=True)

    def stale(self) -> bool:
        """Whether a setting other than the lr changed since the step was recorded."""
        return [_hyperparameters(g) for g in self.optimizer.param_groups] != self._recorded

    def note(self) -> None:
        """Note the settings a step is recorded with, for :meth:`stale`."""
        self._recorded = [_hyperparameters(g) for g in self.optimizer.param_groups]

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """The groups as a recorded step reads them: lr tensors, ``capturable`` set.

        The tensors hold what the last :meth:`load` put there: the caller
        loads them before each replay. ``capturable`` only satisfies Adam's check that it is being captured
        knowingly: a fused step is the same with or without it, so eager
        steps run with the user's setting (and without Adam's warning).
        """
        groups = self.optimizer.param_groups
        saved = [(group['lr'], group.get('capturable')) for group in groups]
        for group, tensor in zip(groups, self.lrs):
            group['lr'] = tensor
            if 'capturable' in group:
                group['capturable'] = True
        try:
            yield
        finally:
            for group, (lr, capturable) in zip(groups, saved):
                group['lr'] = lr
                if capturable is not None:
                    group['capturable'] = capturable


class EagerReplay:
    """A recorded iteration without CUDA: ``replay()`` runs it eagerly, lrs from tensors."""

    def __init__(self, iteration: Callable[[], None], lrs: Optional[GraphLRs]) -> None:
        self.iteration = iteration
        self.lrs = lrs

    def replay(self) -> None:
        with self.lrs.swapped() if self.lrs is not None else contextlib.nullcontext():
            self.iteration()
