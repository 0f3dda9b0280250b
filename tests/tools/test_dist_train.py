"""tools/dist_train.sh, dist_test.sh and slurm_train.sh with 2 gloo ranks on the CPU."""
import json
import os
import socket
import subprocess
import sys

import torch

from .runner import RECORD, REPO, tool_env

FAKE_SRUN = '''#!{python}
"""Stand-in for SLURM's srun: start --ntasks copies of the command here."""
import os, subprocess, sys
args, ntasks = sys.argv[1:], 1
while args[0].startswith('-'):
    option = args.pop(0)
    if option == '-p':
        args.pop(0)
    elif option.startswith('--ntasks='):
        ntasks = int(option.split('=')[1])
env = dict(os.environ, SLURM_NTASKS=str(ntasks), SLURM_NODELIST='node[1]')
procs = [subprocess.Popen(args, env=dict(env, SLURM_PROCID=str(i), SLURM_LOCALID=str(i)))
         for i in range(ntasks)]
sys.exit(max(p.wait() for p in procs))
'''
FAKE_SCONTROL = '#!/bin/sh\necho 127.0.0.1\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_script(script, *args, env=None):
    env = dict(tool_env(), PORT=str(free_port()), PYTHON=sys.executable, **(env or {}))
    return subprocess.run(['bash', str(REPO / 'tools' / script), *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=180)


def assert_ranks_agree(work_dir, calls=4):  # 16 images / (2 ranks x batch 2)
    rank0 = torch.load(work_dir / 'rank0_params.pt')
    rank1 = torch.load(work_dir / 'rank1_params.pt')
    assert rank0['calls'] == rank1['calls'] == calls
    for name, value in rank0['params'].items():
        assert torch.equal(value, rank1['params'][name]), name
    assert [p.name for p in work_dir.glob('epoch_*.pth')] == ['epoch_1.pth']


def test_dist_train_then_dist_test_with_two_ranks(tmp_path, tiny, hook_config):
    config = hook_config(RECORD)
    proc = run_script('dist_train.sh', config, 2, '--work-dir', tmp_path, '--seed', 0,
                      *tiny(max_epochs=1), f'val_evaluator.outfile_prefix={tmp_path}/val')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_ranks_agree(tmp_path)
    assert 'COCO results of 8 images' in proc.stdout + proc.stderr  # each val image once

    test_dir = tmp_path / 'test'
    proc = run_script('dist_test.sh', config, tmp_path / 'epoch_1.pth', 2,
                      '--work-dir', test_dir, *tiny(max_epochs=1),
                      f'test_evaluator.outfile_prefix={test_dir}/dets',
                      'model.test_cfg.score_thr=0.0')  # one epoch: keep low scores too
    assert proc.returncode == 0, proc.stderr[-3000:]
    (log,) = test_dir.glob('*/*.json')
    assert len([k for k in json.loads(log.read_text()) if k.startswith('coco/')]) == 12
    assert len(json.loads((test_dir / 'dets.bbox.json').read_text())) > 0
    assert 'COCO results of 8 images' in proc.stdout + proc.stderr


def test_slurm_train_under_srun(tmp_path, tiny, hook_config):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN.format(python=sys.executable)),
                       ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    work_dir = tmp_path / 'work'
    env = dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', GPUS='2', GPUS_PER_NODE='2',
               MASTER_PORT=str(free_port()))
    proc = run_script('slurm_train.sh', 'cpu', 'detkit-test', hook_config(RECORD), work_dir,
                      '--seed', 0, *tiny(max_epochs=1), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_ranks_agree(work_dir)
