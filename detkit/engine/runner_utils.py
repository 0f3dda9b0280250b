"""What tools/train.py and tools/test.py share: config, launcher, runner, errors.

Each helper edits the resolved ``Config`` in one documented way before the
mmengine ``Runner`` is built from it, so that what a command-line flag does
can also be written in a config.
"""
import argparse
import logging
import os
import os.path as osp
import pickle
import sys
import traceback
from typing import Callable, List, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from detkit.utils import check_num_classes
from detkit.utils.compat import cpu_has_native_bf16, ddp_buffer_sync_kwargs
from .checkpoint import set_unsafe_load
from .device_defaults import apply_device_defaults
from .dist import (describe_collective_failure, init_cpu_distributed,
                   install_termination_message, is_collective_failure, set_timeout)

DEBUG_ENV = 'DETKIT_DEBUG'
# Logged by mmengine's CheckpointHook on every run although nothing is wrong.
_NOISE = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Flags both tools accept."""
    parser.add_argument('--work-dir', help='where logs, checkpoints and the dumped '
                        'config go (default: ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE',
                        help='override config entries with dotted keys, e.g. '
                        'model.bbox_head.num_classes=3 train_dataloader.batch_size=2; '
                        'lists as a=[1,2] or a=1,2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='"pytorch" under torchrun, "slurm" under srun')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load checkpoints with full pickle; only for files you trust, '
                        'since unpickling can run arbitrary code')
    parser.add_argument('--debug', action='store_true',
                        help=f'show full tracebacks (also: {DEBUG_ENV}=1)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def setup_common(cfg: Config, args: argparse.Namespace) -> None:
    """Apply ``--work-dir``, ``--launcher`` and ``--unsafe-load`` to ``cfg``."""
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    set_unsafe_load(args.unsafe_load)
    check_num_classes(cfg)
    setup_launcher(cfg, args.launcher)


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher``; on CPUs start gloo now and wrap DDP for CPUs.

    With CUDA, mmengine starts NCCL from ``env_cfg.dist_cfg``. In both cases
    DDP does not broadcast buffers in every ``forward`` (the keyword for that
    depends on the torch version, see :func:`detkit.utils.compat.ddp_buffer_sync_kwargs`)
    and keeps the gradients as views of its buckets.
    """
    if 'LOCAL_RANK' not in os.environ and launcher == 'pytorch':
        raise RuntimeError('--launcher pytorch needs torchrun: '
                           'torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch')
    cfg.launcher = launcher
    if launcher == 'none':
        return
    install_termination_message()
    dist_cfg = cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())
    set_timeout(dist_cfg.get('timeout'))
    # gradients as views into DDP's all-reduce buckets: no copy in and out per step
    wrapper = dict(type='MMDistributedDataParallel', gradient_as_bucket_view=True,
                   **ddp_buffer_sync_kwargs())
    if init_cpu_distributed(launcher, dist_cfg.get('timeout')):
        dist_cfg.backend = 'gloo'
        wrapper['device_ids'] = None  # a CPU module: DDP refuses device ids
    cfg.setdefault('model_wrapper_cfg', wrapper)


def enable_amp(cfg: Config, dtype: str = 'float16') -> None:
    """Mixed precision: CUDA ``GuardedAmpOptimWrapper(dtype)``; CPU bf16 autocast.

    A CPU without bf16 instructions (:func:`~detkit.utils.compat.cpu_has_native_bf16`)
    would emulate bf16, slower than fp32: it trains in fp32 with a one-line notice.
    """
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'OptimWrapper') not in ('OptimWrapper', 'GuardedOptimWrapper'):
        print_log(f'--amp: keeping optim_wrapper.type={wrapper.type}', logger='current')
        return
    if torch.cuda.is_available():
        wrapper.update(type='GuardedAmpOptimWrapper', dtype=dtype, loss_scale='dynamic')
    elif not cpu_has_native_bf16():
        print_log('--amp: this CPU has no bf16 instructions (AVX-512 BF16 or AMX), where '
                  'bf16 would be slower than fp32; training in fp32', logger='current')
    else:
        if dtype != 'bfloat16':
            print_log('--amp on the CPU uses bfloat16 autocast', logger='current')
        wrapper.update(type='CPUAmpOptimWrapper', dtype='bfloat16')


def enable_cuda_graph(cfg: Config) -> None:
    """Turn ``train_cfg.cuda_graph`` into detkit's ``CudaGraphEpochBasedTrainLoop``.

    ``cuda_graph=True`` takes the defaults; a dict may set ``canvas``,
    ``max_gts``, ``max_ignored``, ``warmup_iters``, ``capture_update``.
    Without a ``canvas`` it is the train pipeline's ``Resize`` scale, sides
    rounded up to 32 (a landscape canvas; portrait batches use its transpose).
    """
    option = cfg.train_cfg.pop('cuda_graph', None)
    if not option:
        return
    loop = cfg.train_cfg.get('type', 'EpochBasedTrainLoop')
    if loop != 'EpochBasedTrainLoop' or not cfg.train_cfg.pop('by_epoch', True):
        raise ValueError(f'train_cfg.cuda_graph needs the epoch-based loop, got train_cfg.type='
                         f'{loop!r}')
    args = dict(option) if isinstance(option, dict) else {}
    if 'canvas' not in args:
        scales = [t['scale'] for t in cfg.train_dataloader.dataset.get('pipeline', [])
                  if t.get('type') == 'Resize' and 'scale' in t]
        if not scales:
            raise ValueError('train_cfg.cuda_graph: no Resize scale in the train pipeline to '
                             'size the canvas from; set cuda_graph=dict(canvas=(H, W))')
        short, long = sorted(int(s) for s in scales[0])
        args['canvas'] = tuple(-(-side // 32) * 32 for side in (short, long))
    cfg.train_cfg.update(type='CudaGraphEpochBasedTrainLoop', **args)


def enable_auto_scale_lr(cfg: Config) -> None:
    """Scale the lr by (GPUs x batch) / ``auto_scale_lr.base_batch_size``."""
    if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
        raise KeyError('--auto-scale-lr needs auto_scale_lr=dict(enable=False, '
                       'base_batch_size=16) in the config (see schedule_1x.py)')
    cfg.auto_scale_lr.enable = True


def set_checkpoint_strict(cfg: Config, strict: bool) -> None:
    """Whether a checkpoint that does not fit the model is an error."""
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    hooks.setdefault('checkpoint_match', ConfigDict(type='CheckpointMatchHook'))
    if hooks.checkpoint_match is not None:
        hooks.checkpoint_match.strict = strict


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in _NOISE)


def build_runner(cfg: Config) -> Runner:
    """``Runner.from_cfg`` (or ``runner_type``) after the device defaults, noise filtered.

    :func:`~detkit.engine.device_defaults.apply_device_defaults` first fills
    in ``num_workers='auto'``, pinned memory, channels_last and fused
    optimizers where the config leaves them open.
    """
    init_default_scope(cfg.get('default_scope', 'detkit'))
    apply_device_defaults(cfg)
    if 'runner_type' in cfg:
        from detkit.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.logger.addFilter(_DropNoise())
    return runner


def _user_error(err: BaseException) -> bool:
    """Errors whose message tells the user what to fix; no traceback needed."""
    if type(err).__module__.startswith('detkit'):
        return True
    return isinstance(err, (OSError, ValueError, TypeError, KeyError, FloatingPointError,
                            pickle.UnpicklingError, ImportError))


def run_tool(main: Callable[[Optional[Sequence[str]]], None],
             argv: Optional[List[str]] = None) -> int:
    """Run a tool's ``main``; print known errors as one message, exit code 1."""
    debug = os.environ.get(DEBUG_ENV, '') not in ('', '0') or '--debug' in (argv or sys.argv)
    try:
        main(argv)
    except KeyboardInterrupt:
        sys.stderr.write('interrupted\n')
        return 130
    except Exception as err:  # noqa: BLE001 - the tool's top level
        if debug:
            traceback.print_exc()
        if is_collective_failure(err):
            sys.stderr.write(describe_collective_failure(err) + '\n')
        elif _user_error(err):
            prefix = f'rank {os.environ["RANK"]}: ' if 'RANK' in os.environ else ''
            sys.stderr.write(f'{prefix}error: {err}\n')
        else:
            raise
        if not debug:
            sys.stderr.write(f'(for the full traceback, rerun with --debug or {DEBUG_ENV}=1)\n')
        return 1
    return 0
