"""detkit vs torchvision RetinaNet-R50-FPN, side by side, same inputs (see docs/benchmarks.md).

    python tools/benchmark.py                        # the comparison table (CPU, ~3-5 min)
    python tools/benchmark.py --json out.json        # … also written as JSON
    python tools/benchmark.py --device cuda --amp --size 800 1333 --infer-batches 2 8
    python tools/benchmark.py --mode scaling         # train step / loss part vs gts and batch
    python tools/benchmark.py --mode coco-eval       # CocoMetric: pycocotools vs fast path
    python tools/benchmark.py --mode heads           # loss part of RetinaNet, ATSS, GFL heads
    python tools/benchmark.py --mode throughput --device cuda --amp --size 800 1333
                                                     # training img/s: eager, CUDA graph, tv
    python tools/benchmark.py --mode data -- CONFIG [--workers 0 2]   # data pipeline speed

Modes other than ``compare`` print their own tables; ``--json`` works for all
but ``data``.
"""
import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

from benchmarks.compare import (MEASURE_KINDS, CompareConfig, format_table,  # noqa: E402
                                run_compare)
from benchmarks.options import DEFAULT_CONFIG, BenchOptions  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n', 2)[2])
    parser.add_argument('--mode', choices=('compare', 'scaling', 'coco-eval', 'heads',
                                           'throughput', 'data'),
                        default='compare')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='detkit model config')
    parser.add_argument('--size', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'),
                        help='input size (no resizing on either side)')
    parser.add_argument('--batch', type=int, default=2, help='training / loss-part batch')
    parser.add_argument('--boxes', type=int, default=3, help='ground-truth boxes per image')
    parser.add_argument('--infer-batches', type=int, nargs='*', default=[1, 8])
    parser.add_argument('--num-classes', type=int, default=80)
    parser.add_argument('--repeats', type=int, default=5, help='timed rounds (median)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed rounds first')
    parser.add_argument('--mem-steps', type=int, default=1,
                        help='training steps run for the peak-memory measure')
    parser.add_argument('--measures', nargs='+', choices=MEASURE_KINDS,
                        default=list(MEASURE_KINDS),
                        help='what to time (infer: one measure per --infer-batches)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0: torch default)')
    parser.add_argument('--clock', choices=('wall', 'cpu'), default='wall',
                        help='wall: elapsed time; cpu: CPU time of this process (steadier '
                             'on a shared machine, with --threads 1)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True,
                        help='detkit in channels_last memory format')
    parser.add_argument('--fuse-bn', action=argparse.BooleanOptionalAction, default=True,
                        help='detkit inference with BN folded into the convs')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile detkit backbone, neck and head (opt-in)')
    parser.add_argument('--amp', action='store_true',
                        help='autocast both sides (bfloat16 on CPU, float16 on CUDA)')
    parser.add_argument('--tv-channels-last', action='store_true',
                        help='torchvision in channels_last too (like-for-like check)')
    parser.add_argument('--gts', type=int, nargs='+', default=[1, 10, 100],
                        help='scaling mode: gts per image at --batch')
    parser.add_argument('--batches', type=int, nargs='+', default=None,
                        help='scaling mode: batch sizes at --boxes gts')
    parser.add_argument('--heads', nargs='+', metavar='CONFIG',
                        help='heads mode: detector configs whose heads are compared '
                             '(default: RetinaNet, ATSS and GFL R50-FPN)')
    parser.add_argument('--eval-images', type=int, default=5000, help='coco-eval mode')
    parser.add_argument('--eval-dets', type=int, default=100, help='coco-eval: dets per image')
    parser.add_argument('--json', metavar='FILE', help='also write the results as JSON')
    parser.add_argument('rest', nargs=argparse.REMAINDER,
                        help='data mode: arguments of benchmarks/data_pipeline.py after --')
    return parser.parse_args(argv)


def machine() -> dict:
    """What the numbers were measured on."""
    info = dict(python=platform.python_version(), torch=torch.__version__,
                platform=platform.platform(), cpu=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), threads=torch.get_num_threads())
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        info['cpu'] = names[0] if names else info['cpu']
    except OSError:
        pass
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    if hasattr(os, 'getloadavg'):
        info['loadavg_at_start'] = os.getloadavg()
    info['OMP_WAIT_POLICY'] = os.environ.get('OMP_WAIT_POLICY', '')
    return info


def _quiet_mmengine() -> None:
    """Model building logs every initialised parameter at INFO; keep the table readable."""
    MMLogger.get_current_instance().setLevel(logging.WARNING)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.mode == 'data':
        from benchmarks import data_pipeline
        rest = args.rest[1:] if args.rest[:1] == ['--'] else args.rest
        data_pipeline.main(rest)
        return {}
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    _quiet_mmengine()
    opts = BenchOptions(device=args.device, num_classes=args.num_classes, config=args.config,
                        channels_last=args.channels_last, fuse_bn=args.fuse_bn,
                        compile=args.compile, amp=args.amp,
                        tv_channels_last=args.tv_channels_last)
    cfg = CompareConfig(size=tuple(args.size), batch=args.batch, boxes=args.boxes,
                        infer_batches=tuple(args.infer_batches), repeats=args.repeats,
                        warmup=args.warmup, measures=tuple(args.measures),
                        threads=args.threads, mem_steps=args.mem_steps, clock=args.clock)
    meta = dict(mode=args.mode, machine=machine(), options=asdict(opts), sizes=asdict(cfg))
    start = time.perf_counter()
    if args.mode == 'compare':
        # {measure: {"detkit": s (MiB for memory), "torchvision": …, "ratio": r, …}}
        report = run_compare(opts, cfg)
        print(format_table(report))
    elif args.mode == 'scaling':
        from benchmarks.scaling import format_scaling, run_scaling
        rows = run_scaling(opts, cfg, args.gts, args.batches or [1, 2, 8])
        print(format_scaling(rows))
        report = dict(scaling=rows)
    elif args.mode == 'throughput':
        from benchmarks.throughput import (format_demo_iteration, format_throughput,
                                           run_demo_iteration, run_throughput)
        report = run_throughput(opts, cfg, args.batches or [2, 8, 16])
        print(format_throughput(report))
        report['demo_seconds_per_iter'] = run_demo_iteration(opts, cfg)
        print(format_demo_iteration(report['demo_seconds_per_iter']))
    elif args.mode == 'heads':
        from benchmarks.heads import HEAD_CONFIGS, format_heads, run_heads
        report = run_heads(opts, cfg, args.heads or HEAD_CONFIGS)
        print(format_heads(report))
    else:
        from benchmarks.coco_eval import format_coco_eval, run_coco_eval
        report = run_coco_eval(args.eval_images, args.eval_dets, args.num_classes)
        print(format_coco_eval(report))
    meta['wall_seconds'] = time.perf_counter() - start
    print(f'({meta["wall_seconds"]:.0f} s; {meta["machine"]["threads"]} threads on '
          f'{meta["machine"]["cpu"]}; device {args.device}; {args.clock} clock; load '
          f'{os.getloadavg()[0]:.1f} at the end)')
    report['_meta'] = meta
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == '__main__':
    main()
