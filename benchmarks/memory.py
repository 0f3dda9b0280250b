"""Peak memory of training steps, one framework per fresh process.

    python -m benchmarks.memory --framework detkit|torchvision [--size H W] [--batch B]
        [--boxes G] [--steps N] [--device D] [--threads T] [--options JSON]

Prints one JSON line ``{"framework": …, "peak_mib": …, "what": …}``. On the
CPU the peak is the process's peak RSS (``VmHWM``) minus its RSS after
imports, before the model is built — both sides import both libraries, so
that baseline is the same; on CUDA it is ``torch.cuda.max_memory_allocated``.
A fresh process per framework is needed because the peak RSS of a process
only ever grows; both run with ``MALLOC_MMAP_THRESHOLD_=65536`` so that freed
tensors leave the RSS at once.
"""
import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Dict

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field}')


def measure(framework: str, opts, size, batch: int, boxes: int, steps: int) -> Dict:
    """Build ``framework``'s model here and return its peak memory over ``steps`` train steps."""
    import torchvision  # noqa: F401  (both sides pay the same imports)
    import detkit.models  # noqa: F401
    from .detkit_side import DetkitSide
    from .inputs import make_batch
    from .torchvision_side import TorchvisionSide

    device = opts.torch_device
    base_kib = _status_kib('VmRSS')
    data = make_batch(batch, size[0], size[1], boxes, opts.num_classes)
    side = DetkitSide(opts) if framework == 'detkit' else TorchvisionSide(opts, *size)
    step = side.train_step(data)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(steps):
        step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        return dict(framework=framework, what='torch.cuda.max_memory_allocated',
                    peak_mib=torch.cuda.max_memory_allocated(device) / 2 ** 20)
    return dict(framework=framework, what='peak RSS minus RSS after imports',
                peak_mib=(_status_kib('VmHWM') - base_kib) / 1024)


def measure_in_subprocess(framework: str, opts, size, batch: int, boxes: int,
                          steps: int = 2, threads: int = 0) -> float:
    """Run :func:`measure` in a fresh interpreter; returns the peak in MiB."""
    cmd = [sys.executable, '-m', 'benchmarks.memory', '--framework', framework,
           '--size', str(size[0]), str(size[1]), '--batch', str(batch), '--boxes', str(boxes),
           '--steps', str(steps), '--threads', str(threads),
           '--options', json.dumps(asdict(opts))]
    # glibc then serves every block over 64 KiB with mmap and unmaps it when freed, so
    # the peak RSS follows the tensors alive (otherwise it drifts by ±5 % with heap reuse)
    env = dict(os.environ, PYTHONPATH=ROOT, MALLOC_MMAP_THRESHOLD_='65536')
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])['peak_mib']


def main(argv=None) -> None:
    from .options import BenchOptions
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--framework', choices=('detkit', 'torchvision'), required=True)
    parser.add_argument('--size', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--boxes', type=int, default=3)
    parser.add_argument('--steps', type=int, default=2)
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--options', default='{}', help='BenchOptions as JSON')
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    opts = BenchOptions(**json.loads(args.options))
    print(json.dumps(measure(args.framework, opts, args.size, args.batch, args.boxes,
                             args.steps)))


if __name__ == '__main__':
    main()
