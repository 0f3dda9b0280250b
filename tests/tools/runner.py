"""Running tools/*.py as subprocesses on a tiny synthetic dataset.

The fixtures are registered by tests/conftest.py, for tests/tools and tests/robustness.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detkit.datasets.synthetic import generate_synthetic_coco

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'retinanet_r18_fpn_synthetic.py'


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """16 train / 8 val images of detkit's synthetic set."""
    root = tmp_path_factory.mktemp('synthetic') / 'data'
    generate_synthetic_coco(str(root), num_train=16, num_val=8)
    return root


@pytest.fixture(scope='session')
def tiny(synthetic_root):
    """``--cfg-options`` shrinking the demo config: 128-px images, batch 2,
    8 iterations per epoch, a 4-iteration warm-up, no dataloader workers,
    per-iteration logs; the demo's optimizer and lr as they are."""

    def options(max_epochs=3, **extra):
        opts = dict(
            train_cfg=dict(max_epochs=max_epochs, val_interval=max_epochs),
            default_hooks=dict(logger=dict(interval=1), checkpoint=dict(interval=1)),
            log_processor=dict(window_size=1))
        flat = ['param_scheduler.0.end=4', 'train_dataloader.batch_size=2',
                'val_dataloader.batch_size=4']
        for split in ('train', 'val', 'test'):
            flat += [f'{split}_dataloader.dataset.data_root={synthetic_root}',
                     f'{split}_dataloader.num_workers=0',
                     f'{split}_dataloader.persistent_workers=False',
                     f'{split}_dataloader.dataset.pipeline.2.scale=(128,128)']
        flat += _flatten(opts) + [f'{k}={v}' for k, v in extra.items()]
        return ['--cfg-options'] + flat

    return options


def _flatten(tree, prefix=''):
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _flatten(value, f'{prefix}{key}.')
        else:
            out.append(f'{prefix}{key}={value}')
    return out


def tool_env():
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(REPO)]))
    env.pop('DETKIT_DEBUG', None)
    return env


@pytest.fixture(scope='session')
def run_tool():
    """``run_tool('train.py', *args)`` → ``CompletedProcess`` (text, captured)."""

    def run(script, *args, cwd=REPO, timeout=120):
        cmd = [sys.executable, str(REPO / 'tools' / script), *map(str, args)]
        return subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True,
                              timeout=timeout)

    return run


@pytest.fixture(scope='session')
def hook_config(tmp_path_factory):
    """A config that is the demo plus hooks from tests/tools/dummy_hooks.py."""

    def write(*hooks):
        path = tmp_path_factory.mktemp('config') / 'with_hooks.py'
        path.write_text(
            f"_base_ = [{str(DEMO)!r}]\n"
            "custom_imports = dict(imports=['dummy_hooks'], allow_failed_imports=False)\n"
            f"custom_hooks = {list(hooks)!r}\n")
        return path

    return write


RECORD = dict(type='RecordParamsHook')


@pytest.fixture(scope='session')
def straight(tmp_path_factory, run_tool, tiny, hook_config):
    """Three epochs (24 iterations) of the shrunk demo, seeded and deterministic."""
    work_dir = tmp_path_factory.mktemp('straight')
    proc = run_tool('train.py', hook_config(RECORD), '--work-dir', work_dir, '--seed', 0,
                    '--deterministic', *tiny(max_epochs=3))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work_dir


def torchrun(config, work_dir, *args, timeout=120):
    """Train ``config`` with 2 gloo ranks -> ``(CompletedProcess, seconds)``."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
           '2', str(REPO / 'tools' / 'train.py'), str(config), '--launcher', 'pytorch',
           '--work-dir', str(work_dir), '--seed', '0', *map(str, args)]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.monotonic() - start
