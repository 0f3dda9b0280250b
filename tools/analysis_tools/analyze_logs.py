"""Plot training curves and time training from mmengine's JSON logs.

    python tools/analysis_tools/analyze_logs.py plot_curve LOG.json [LOG2.json ...] \\
        --keys loss loss_cls coco/bbox_mAP --out curves.png [--legend run1 run2]
        # loss_cls back at its initial level after a fall (a collapsed classifier) is
        # marked with a red x and printed; --collapse-key '' turns that off
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG.json [...]

A log is ``<work_dir>/<timestamp>/vis_data/<timestamp>.json`` (or
``scalars.json``): one JSON object per line. Training lines carry ``lr`` and
are plotted against the iteration; validation lines (metrics such as
``coco/bbox_mAP``) against the epoch.
"""
import argparse
import json
import os
import sys
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from detkit.engine.hooks.loss_collapse_hook import LossCollapseDetector
from detkit.engine.runner_utils import run_tool
from detkit.utils.optional_import import pyplot

Series = Tuple[List[float], List[float]]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyse mmengine JSON training logs.')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot logged values against iteration / epoch')
    plot.add_argument('logs', nargs='+', help='JSON log files')
    plot.add_argument('--keys', nargs='+', default=['loss'],
                      help='logged keys, one panel each (default: loss)')
    plot.add_argument('--legend', nargs='+', help='one name per log (default: file names)')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', required=True, help='PNG (or PDF, SVG) to write')
    plot.add_argument('--collapse-key', default='loss_cls',
                      help='mark where this training key climbs back to within 5%% of its '
                           'first logged value after falling by 20%% (as LossCollapseHook); '
                           '\'\' for none')
    timing = sub.add_parser('cal_train_time', help='seconds per iteration, per epoch')
    timing.add_argument('logs', nargs='+', help='JSON log files')
    return parser.parse_args(argv)


def read_log(path: str) -> Tuple[List[dict], List[dict]]:
    """``(train lines, validation lines)`` of a JSON-lines log."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'log file not found: {path}')
    train, val = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}, line {number} is not JSON ({err.msg}): is this '
                                 f'the .json log of mmengine (not the .log text)?') from None
            (train if 'lr' in entry else val).append(entry)
    if not train and not val:
        raise ValueError(f'log file {path} is empty')
    return train, val


def series(train: List[dict], val: List[dict], key: str, path: str) -> Tuple[Series, str]:
    """``((x, y), x label)`` of ``key``: against the iteration for training values,
    the epoch for validation values."""
    for lines, x_key, x_label in ((train, 'step', 'iteration'), (val, 'step', 'epoch')):
        points = [(e[x_key], e[key]) for e in lines if key in e]
        if points:
            xs, ys = zip(*points)
            return (list(xs), list(ys)), x_label
    known = sorted({k for e in train + val for k in e} - {'step', 'epoch', 'iter'})
    raise ValueError(f'"{key}" is not logged in {path}; its keys are: {", ".join(known)}')


def find_collapses(xs: Sequence[float], ys: Sequence[float]) -> List[Tuple[float, dict]]:
    """``(x, event)`` where logged values climb back to the first one after having fallen.

    Logged training values are already means over the logger's window, so
    each counts as one (``LossCollapseDetector(window=1)``); the first logged
    value is the initial level.
    """
    detector = LossCollapseDetector(window=1)
    return [(x, event) for x, y in zip(xs, ys) if (event := detector.update(y)) is not None]


def plot_curve(args: argparse.Namespace) -> None:
    if args.legend and len(args.legend) != len(args.logs):
        raise ValueError(f'--legend gives {len(args.legend)} names for {len(args.logs)} logs')
    legend = args.legend or [os.path.basename(p) for p in args.logs]
    logs = [read_log(p) for p in args.logs]
    plt = pyplot('plot_curve')
    fig, axes = plt.subplots(len(args.keys), 1, squeeze=False,
                             figsize=(8, 2.8 * len(args.keys)))
    for ax, key in zip(axes[:, 0], args.keys):
        for path, name, (train, val) in zip(args.logs, legend, logs):
            (xs, ys), x_label = series(train, val, key, path)
            ax.plot(xs, ys, label=name, marker='o' if len(xs) < 30 else None)
            if key == args.collapse_key and x_label == 'iteration':
                mark_collapses(ax, name, find_collapses(xs, ys), key)
        ax.set_xlabel(x_label)
        ax.xaxis.get_major_locator().set_params(integer=True)   # epochs and iterations
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f'wrote {args.out}')


def mark_collapses(ax, name: str, collapses: List[Tuple[float, dict]], key: str) -> None:
    """Red x and a dotted line at each collapse; one printed line each."""
    for x, event in collapses:
        ax.axvline(x, color='red', linestyle=':', linewidth=1)
        ax.plot([x], [event['value']], 'x', color='red', markersize=9)
        print(f'{name}: {key} back at its initial level at iteration {x}: '
              f'{event["value"]:.4f} (initial {event["initial"]:.4f}, lowest '
              f'{event["lowest"]:.4f}) - a collapsed classifier')


def epoch_times(train: List[dict], path: str) -> Dict[int, float]:
    """Mean logged seconds per iteration of every epoch (``time`` of the train lines)."""
    times: Dict[int, List[float]] = defaultdict(list)
    for entry in train:
        if 'time' in entry:
            times[int(entry.get('epoch', 1))].append(entry['time'])
    if not times:
        raise ValueError(f'{path} has no training lines with "time"')
    return {epoch: float(np.mean(values)) for epoch, values in sorted(times.items())}


def cal_train_time(args: argparse.Namespace) -> None:
    for path in args.logs:
        train, _ = read_log(path)
        per_epoch = epoch_times(train, path)
        values = np.array(list(per_epoch.values()))
        slowest, fastest = max(per_epoch, key=per_epoch.get), min(per_epoch, key=per_epoch.get)
        print(f'{path}\n'
              f'  slowest epoch {slowest}: {per_epoch[slowest]:.4f} s/iter\n'
              f'  fastest epoch {fastest}: {per_epoch[fastest]:.4f} s/iter\n'
              f'  time std over epochs: {values.std():.4f}\n'
              f'  average: {values.mean():.4f} s/iter')


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    {'plot_curve': plot_curve, 'cal_train_time': cal_train_time}[args.task](args)


if __name__ == '__main__':
    sys.exit(run_tool(main))
