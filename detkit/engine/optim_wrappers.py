"""Optimizer wrappers: a non-finite-loss guard, and bf16 autocast on the CPU.

``GuardedOptimWrapper`` is mmengine's ``OptimWrapper`` (gradient clipping
with ``clip_grad=dict(max_norm=...)``, accumulation) that never applies a
step whose loss is NaN or infinite: it skips the backward pass and the
update and counts the skip. Whether training then stops or goes on is
decided by :class:`~detkit.engine.hooks.NonFiniteLossHook`, which sees the
individual loss terms: it stops with a message unless
``skip_nonfinite=True``.

``GuardedAmpOptimWrapper`` is the same on top of mmengine's
``AmpOptimWrapper`` (CUDA fp16/bf16), ``CPUAmpOptimWrapper`` runs the
forward pass under CPU bf16 autocast (mmengine's ``AmpOptimWrapper``
refuses CPUs): activations in bf16, parameters and optimizer state in fp32.
"""
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import torch
import torch.distributed as torch_dist
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.runner.amp import autocast
from torch import nn

from detkit.registry import OPTIM_WRAPPERS


def loss_is_finite_everywhere(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite on every rank (one all-reduce when distributed).

    All ranks must agree: a rank that skipped its backward pass while the
    others ran theirs would leave DDP waiting for its gradients.
    """
    finite = torch.isfinite(loss.detach()).all().to(torch.int32)
    if torch_dist.is_available() and torch_dist.is_initialized() \
            and torch_dist.get_world_size() > 1:
        torch_dist.all_reduce(finite, op=torch_dist.ReduceOp.MIN)
    return bool(finite.item())


class _NonFiniteGuard:
    """Skips the update of a non-finite loss; mixed into OptimWrapper types.

    Attributes:
        skip_nonfinite: read by ``NonFiniteLossHook``: skip and go on (True)
            or stop training (False).
        skipped_steps: how many updates were skipped so far.
        last_loss_finite: whether the latest loss was finite on all ranks.
    """

    skip_nonfinite: bool
    skipped_steps: int
    last_loss_finite: bool

    def _init_guard(self, skip_nonfinite: bool) -> None:
        self.skip_nonfinite = skip_nonfinite
        self.skipped_steps = 0
        self.last_loss_finite = True

    def update_params(self, loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        self.last_loss_finite = loss_is_finite_everywhere(loss)
        if self.last_loss_finite:
            super().update_params(loss, step_kwargs, zero_kwargs)  # type: ignore[misc]
            return
        self.skipped_steps += 1
        # The micro-batch still counts, so accumulation stays aligned; the
        # gradients gathered for this update are dropped with it.
        self._inner_count += 1  # type: ignore[attr-defined]
        if self.should_update():  # type: ignore[attr-defined]
            self.zero_grad(**(zero_kwargs or {}))  # type: ignore[attr-defined]


@OPTIM_WRAPPERS.register_module()
class GuardedOptimWrapper(_NonFiniteGuard, OptimWrapper):
    """``OptimWrapper`` that never steps on a NaN/inf loss.

    Args:
        skip_nonfinite: False (default): ``NonFiniteLossHook`` stops training
            at the first non-finite loss. True: the step is skipped, counted
            and training goes on.
        **kwargs: ``optimizer``, ``clip_grad``, ``accumulative_counts`` of
            :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, skip_nonfinite: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._init_guard(skip_nonfinite)


@OPTIM_WRAPPERS.register_module()
class GuardedAmpOptimWrapper(_NonFiniteGuard, AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` (CUDA; fp16 or bf16) with the guard.

    Args:
        skip_nonfinite: see :class:`GuardedOptimWrapper`.
        **kwargs: ``loss_scale``, ``dtype`` and the ``OptimWrapper`` arguments.
    """

    def __init__(self, skip_nonfinite: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._init_guard(skip_nonfinite)


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(GuardedOptimWrapper):
    """Mixed precision on the CPU: the forward pass under bf16 autocast.

    No loss scaling is needed: bf16 has fp32's exponent range.

    Args:
        dtype: autocast dtype; only ``'bfloat16'`` is fast on CPUs.
        **kwargs: see :class:`GuardedOptimWrapper`.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(
                f'CPUAmpOptimWrapper supports dtype="bfloat16" only, got {dtype!r}: '
                'float16 autocast on CPUs is slow and needs loss scaling.')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), \
                autocast(device_type='cpu', dtype=self.cast_dtype):
            yield
