import subprocess
import sys
import time

import pytest
import torch

from .conftest import REPO, tool_env


def torchrun(config, work_dir, *args, timeout=120):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
           '2', str(REPO / 'tools' / 'train.py'), str(config), '--launcher', 'pytorch',
           '--work-dir', str(work_dir), '--seed', '0', *map(str, args)]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.monotonic() - start


def test_two_gloo_ranks_train_the_same_parameters(tmp_path, tiny, hook_config):
    proc, _ = torchrun(hook_config(dict(type='RecordParamsHook')), tmp_path,
                       *tiny(max_epochs=1), f'val_evaluator.outfile_prefix={tmp_path}/val')
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = torch.load(tmp_path / 'rank0_params.pt')
    rank1 = torch.load(tmp_path / 'rank1_params.pt')
    assert rank0['calls'] == rank1['calls'] == 4  # 16 images / (2 ranks x batch 2)
    for name, value in rank0['params'].items():
        assert torch.equal(value, rank1['params'][name]), name
    assert [p.name for p in tmp_path.glob('epoch_*.pth')] == ['epoch_1.pth']
    assert 'COCO results of 8 images' in proc.stdout + proc.stderr  # each val image once


@pytest.mark.parametrize('hang', [False, True], ids=['raises', 'hangs'])
def test_a_failing_rank_stops_the_other_with_a_message(tmp_path, tiny, hook_config, hang):
    config = hook_config(dict(type='FailOnRankHook', rank=1, at=2, hang=hang))
    proc, seconds = torchrun(config, tmp_path, *tiny(max_epochs=1),
                             'env_cfg.dist_cfg.timeout=10')
    assert proc.returncode != 0
    if hang:  # rank 0 gives up after the process-group timeout
        assert 'rank 0: lost contact with another rank' in proc.stderr
        assert '10 s (env_cfg.dist_cfg.timeout)' in proc.stderr
    else:  # rank 0 sees the closed connection, or torchrun stops it first
        assert 'rank 1: error: deliberate failure on rank 1' in proc.stderr
        assert ('rank 0: stopped by the launcher (SIGTERM)' in proc.stderr
                or 'rank 0: lost contact with another rank' in proc.stderr)
    assert seconds < 90
