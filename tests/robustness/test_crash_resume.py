"""kill -9 mid-epoch, --resume: the run ends bit-identical to an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import time

import torch

from detkit.engine import load_from_local_safe
from tools.runner import RECORD, REPO, tool_env


def test_killed_mid_epoch_then_resumed_ends_like_the_uninterrupted_run(
        straight, tmp_path, tiny, hook_config):
    cmd = [sys.executable, str(REPO / 'tools' / 'train.py'), str(hook_config(RECORD)),
           '--work-dir', str(tmp_path), '--seed', '0', '--deterministic', *tiny(max_epochs=3)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=tool_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while _last_iter(tmp_path) < 11 and proc.poll() is None:  # epoch 2 is iters 9-16
            assert time.monotonic() < deadline, 'training did not reach iteration 11'
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / 'epoch_2.pth').exists()
    # what a kill during a non-atomic save would leave: newest, but incomplete
    (tmp_path / 'epoch_9.pth').write_bytes((tmp_path / 'epoch_1.pth').read_bytes()[:5000])

    resumed = subprocess.run(cmd + ['--resume'], cwd=REPO, env=tool_env(),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 1, iter: 8' in resumed.stdout
    a = load_from_local_safe(str(straight / 'epoch_3.pth'))['state_dict']
    b = load_from_local_safe(str(tmp_path / 'epoch_3.pth'))['state_dict']
    for name, value in a.items():
        assert torch.equal(value, b[name]), name


def _last_iter(work_dir):
    found = list(work_dir.glob('*/vis_data/scalars.json'))
    if not found:
        return 0
    lines = found[0].read_text().splitlines()
    try:
        return json.loads(lines[-1]).get('iter', 0) if lines else 0
    except json.JSONDecodeError:  # caught mid-write
        return json.loads(lines[-2]).get('iter', 0) if len(lines) > 1 else 0
