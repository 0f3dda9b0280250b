"""Distributed start-up on CPUs, and what a rank says when another one fails.

mmengine's ``init_dist`` always calls ``torch.cuda.set_device``, which fails
on a machine without NVIDIA driver. Without CUDA, :func:`init_cpu_distributed`
initialises a gloo process group itself, before the Runner is built; the
Runner then finds it initialised and skips its own start-up. With CUDA the
tools leave it to mmengine (NCCL).

The process-group ``timeout`` bounds how long a rank waits in a collective
for a peer that hangs; a peer that dies closes its sockets and the waiting
ranks fail at once, and ``torchrun`` stops the remaining ranks (SIGTERM) as
soon as one exits with an error. :func:`install_termination_message` and
:func:`describe_collective_failure` turn both into one readable line.
"""
import datetime
import os
import signal
import subprocess
import sys
from types import FrameType
from typing import Optional

import torch
import torch.distributed as torch_dist

DEFAULT_TIMEOUT_S = 1800
_timeout_s: float = DEFAULT_TIMEOUT_S


def set_timeout(timeout_s: Optional[float]) -> None:
    """Remember the process-group timeout (seconds) for the messages below."""
    global _timeout_s
    _timeout_s = timeout_s or DEFAULT_TIMEOUT_S


def _env_from_slurm() -> None:
    """Set torch's rendezvous variables from SLURM's (``srun`` started us)."""
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        first = subprocess.check_output(
            ['scontrol', 'show', 'hostnames', nodes], text=True).split()[0]
        os.environ['MASTER_ADDR'] = first
    os.environ.setdefault('MASTER_PORT', '29500')


def init_cpu_distributed(launcher: str, timeout_s: Optional[float] = None) -> bool:
    """Initialise a gloo process group when there is no CUDA.

    Args:
        launcher: ``'none'``, ``'pytorch'`` (torchrun) or ``'slurm'`` (srun).
        timeout_s: process-group timeout in seconds (``None``: 1800).

    Returns:
        True when this call (or an earlier one) set up a CPU process group;
        False for ``launcher='none'`` or when CUDA is there (mmengine's job).
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if torch_dist.is_initialized():
        return True
    if launcher == 'slurm':
        _env_from_slurm()
    elif launcher != 'pytorch':
        raise ValueError(f'launcher {launcher!r} is not supported on CPUs; use '
                         '"pytorch" (torchrun) or "slurm" (srun).')
    set_timeout(timeout_s)
    torch_dist.init_process_group(backend='gloo',
                                  timeout=datetime.timedelta(seconds=_timeout_s))
    return True


def _rank() -> str:
    return os.environ.get('RANK', '?')


def install_termination_message() -> None:
    """On SIGTERM (torchrun stopping the survivors), say why and exit."""

    def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
        sys.stderr.write(
            f'rank {_rank()}: stopped by the launcher (SIGTERM), most likely because '
            'another rank failed; its error is reported by torchrun.\n')
        sys.stderr.flush()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def is_collective_failure(err: BaseException) -> bool:
    """Whether ``err`` is a failed or timed-out collective with another rank."""
    if isinstance(err, getattr(torch_dist, 'DistError', ())):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(
        s in text for s in ('gloo', 'Connection closed by peer', 'Connection reset',
                            'NCCL', 'Timed out', 'timed out'))


def describe_collective_failure(err: BaseException) -> str:
    """One paragraph for a rank whose peer died or hung."""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (f'rank {_rank()}: lost contact with another rank during a collective '
            f'operation ({first_line}). Another rank has probably crashed (see its '
            'error) or hangs; this rank stops too. A hanging rank is waited for '
            f'{_timeout_s:g} s (env_cfg.dist_cfg.timeout).')
