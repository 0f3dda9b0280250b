"""Defaults that depend on where a config runs: worker counts, pinned memory, layout, fused SGD.

A config states *what* to train; how fast the host feeds the GPU is a
property of the machine. :func:`apply_device_defaults` fills in, before the
Runner is built, only the keys a config leaves unset (or sets to ``'auto'``):

=====================================  ==========================  ================
key                                     with CUDA                   without CUDA
=====================================  ==========================  ================
``*_dataloader.num_workers='auto'``     cores per GPU process, ≤ 8  2 (MMDetection's)
``*_dataloader.pin_memory``             ``True``                    unset
``*_dataloader.persistent_workers``     ``True`` when workers > 0   ``True`` when workers > 0
``model.channels_last``                 ``True``                    unset
``optim_wrapper.optimizer.fused``       ``True`` (SGD, Adam, AdamW  unset
                                        where torch has it)
=====================================  ==========================  ================

The data preprocessor's host→device copies are ``non_blocking`` by default
(so pinned batches overlap the previous step), and DDP wraps with
``gradient_as_bucket_view=True`` (see :func:`~detkit.engine.runner_utils.setup_launcher`).
"""
import os
from typing import Optional

import torch
from mmengine.config import Config

from detkit.utils.compat import accepts_keyword

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: optimizers that run as one fused CUDA kernel per step when given ``fused=True``
FUSABLE = ('SGD', 'Adam', 'AdamW')
MAX_AUTO_WORKERS = 8
CPU_AUTO_WORKERS = 2


def auto_num_workers(cuda: bool) -> int:
    """Data workers per process: the cores one GPU process owns (≤ 8) with CUDA, else 2."""
    if not cuda:
        return CPU_AUTO_WORKERS
    procs = int(os.environ.get('LOCAL_WORLD_SIZE', '1'))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return max(1, min(MAX_AUTO_WORKERS, (cores or 1) // procs - 1))


def _loader_defaults(loader: dict, cuda: bool) -> None:
    if loader.get('num_workers') == 'auto':
        loader['num_workers'] = auto_num_workers(cuda)
    workers = loader.get('num_workers', 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"num_workers must be an int >= 0 or 'auto', got {workers!r}")
    if workers == 0 and loader.get('persistent_workers'):
        loader['persistent_workers'] = False  # torch refuses persistent workers without workers
    elif workers > 0:
        loader.setdefault('persistent_workers', True)
    if cuda:
        loader.setdefault('pin_memory', True)


def _fuse_optimizer(cfg: Config) -> None:
    optimizer = cfg.get('optim_wrapper', {}).get('optimizer')
    if not optimizer or optimizer.get('type') not in FUSABLE:
        return
    if 'fused' in optimizer or 'foreach' in optimizer:
        return
    if accepts_keyword(getattr(torch.optim, optimizer['type']).__init__, 'fused'):
        optimizer['fused'] = True


def apply_device_defaults(cfg: Config, cuda: Optional[bool] = None) -> None:
    """Fill in the machine-dependent keys of ``cfg`` in place (see the module's table).

    Args:
        cfg: a resolved config (``model``, the dataloaders, ``optim_wrapper``).
        cuda: whether the run uses CUDA; ``None``: whether CUDA is available.
    """
    cuda = torch.cuda.is_available() if cuda is None else cuda
    for name in LOADERS:
        if cfg.get(name) is not None:
            _loader_defaults(cfg[name], cuda)
    if not cuda:
        return
    if 'model' in cfg and _accepts(cfg.model, 'channels_last'):
        cfg.model.setdefault('channels_last', True)
    _fuse_optimizer(cfg)


def _accepts(model_cfg: dict, keyword: str) -> bool:
    """Whether the registered model class of ``model_cfg`` takes ``keyword``."""
    from detkit.registry import MODELS
    model_type = model_cfg.get('type')
    cls = MODELS.get(model_type) if isinstance(model_type, str) else model_type
    return cls is not None and accepts_keyword(cls.__init__, keyword)
