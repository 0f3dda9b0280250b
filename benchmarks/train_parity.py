"""From-scratch training parity: detkit vs torchvision's RetinaNet, same recipe, several seeds.

    python benchmarks/train_parity.py --jobs 2          # CPU size, 3 seeds each, 2 cores (~30 min)
    python benchmarks/train_parity.py --preset full         # the issue's recipe (GPU, ~100 s a run)
    python benchmarks/train_parity.py --frameworks detkit \\
        --cfg-options model.backbone.zero_init_residual=True    # an ablation, detkit only
    python benchmarks/train_parity.py --merge A/results.json B/results.json   # runs made apart

Both frameworks train a from-scratch ResNet-18 RetinaNet with the recipe of
``--preset`` (see ``benchmarks/parity_common.py``) on detkit's synthetic set
and are scored by one pycocotools COCOeval on its 200 val images. Prints
mAP / mAP50 per run and mean ± sd per framework, writes ``loss_curves.png``
(mean over seeds) and ``results.json`` (every run, with its loss curves) to
``--out-dir``.
"""
import argparse
import dataclasses
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from benchmarks import parity_detkit, parity_torchvision  # noqa: E402
from benchmarks.parity_common import (PRESETS, Diverged, Recipe, evaluate,  # noqa: E402
                                      load_split)
from detkit.datasets.synthetic import SYNTHETIC_CLASSES, ensure_synthetic_dataset  # noqa: E402
from detkit.utils.optional_import import pyplot  # noqa: E402

FRAMEWORKS = ('torchvision', 'detkit')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n', 2)[2])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='cpu')
    parser.add_argument('--iters', type=int, help='override the preset\'s iterations '
                        '(the lr steps move with them)')
    parser.add_argument('--lr', type=float, help='override the preset\'s base lr (e.g. a '
                        'stability test at a higher lr)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--frameworks', nargs='+', choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument('--config', default=parity_detkit.DEFAULT_CONFIG,
                        help='detkit config (its model and pipeline; the recipe replaces '
                             'sizes, width, anchors and schedule)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the detkit config, key=value')
    parser.add_argument('--data-root', help='a synthetic set (default: detkit\'s, generated '
                        'on first use)')
    parser.add_argument('--threads', type=int, default=0, help='torch threads per run (0: '
                        'default; 1 with --jobs > 1)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs trained at the same time, each in its own process')
    parser.add_argument('--out-dir', default='work_dirs/train_parity')
    parser.add_argument('--merge', nargs='+', metavar='RESULTS_JSON',
                        help='train nothing: table and curves of the runs in these files '
                             '(e.g. seeds run in parallel); they must share one recipe')
    return parser.parse_args(argv)


def scaled_recipe(recipe: Recipe, iters: Optional[int]) -> Recipe:
    """The recipe with ``iters`` iterations, warm-up and lr steps scaled along."""
    if iters is None or iters == recipe.iters:
        return recipe
    scale = iters / recipe.iters
    return Recipe(**{**recipe.__dict__, 'iters': iters,
                     'warmup': max(1, round(recipe.warmup * scale)),
                     'steps': tuple(round(s * scale) for s in recipe.steps)})


def run_one(framework: str, recipe: Recipe, seed: int, root: str, args) -> dict:
    """Train and evaluate one framework once: ``dict(mAP, mAP50, seconds, curve, diverged_at)``.

    A run whose loss turns NaN/inf stops there and scores 0: it detects nothing.
    """
    start = time.time()
    try:
        if framework == 'torchvision':
            _, train_images = load_split(root, 'train')
            _, val_images = load_split(root, 'val')
            model, curve = parity_torchvision.train(recipe, train_images,
                                                    len(SYNTHETIC_CLASSES), seed)
            detections = parity_torchvision.predict(model, val_images)
        else:
            work_dir = os.path.join(args.out_dir, f'detkit_seed{seed}')
            cfg = parity_detkit.recipe_config(args.config, recipe, seed, work_dir, root,
                                              args.cfg_options)
            model, curve, val_loader = parity_detkit.train(cfg)
            detections = parity_detkit.predict(model, val_loader)
    except Diverged as stop:
        outcome = dict(curve=stop.curve, residual_scale=float('nan'),
                       diverged_at=stop.iteration, mAP=0.0, mAP50=0.0)
    else:
        outcome = dict(curve=curve, diverged_at=None, residual_scale=residual_scale(model),
                       **evaluate(root, detections))
    return dict(framework=framework, name=run_name(framework, args.cfg_options), seed=seed,
                seconds=time.time() - start, **outcome)


def _run_in_worker(framework: str, recipe: Recipe, seed: int, root: str, args) -> dict:
    torch.set_num_threads(args.threads or 1)
    return run_one(framework, recipe, seed, root, args)


def run_all(jobs: List[tuple], recipe: Recipe, root: str, args) -> List[dict]:
    """``run_one`` for every ``(framework, seed)``, ``args.jobs`` at a time; in job order."""
    if args.jobs <= 1:
        runs = []
        for framework, seed in jobs:
            runs.append(run_one(framework, recipe, seed, root, args))
            print_run(runs[-1])
        return runs
    context = multiprocessing.get_context('spawn')  # no OpenMP pool inherited by a fork
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = [pool.submit(_run_in_worker, framework, recipe, seed, root, args)
                   for framework, seed in jobs]
        for future in as_completed(futures):
            print_run(future.result())
        return [future.result() for future in futures]


def residual_scale(model: torch.nn.Module) -> float:
    """Mean |weight| of the norms that close the residual branches (``*.bn2.weight``).

    Both ResNets name them so. 1 at torchvision's init; 0 at MMDetection's
    (``zero_init_residual``), where it shows how far SGD has revived the branches.
    """
    gammas = [p.detach().abs().mean() for n, p in model.named_parameters()
              if n.endswith('bn2.weight')]
    return float(torch.stack(gammas).mean())


def run_name(framework: str, cfg_options: dict) -> str:
    """How a run is listed: the framework, and detkit's config overrides (last key part)."""
    if framework == 'detkit' and cfg_options:
        return 'detkit (' + ', '.join(f'{k.rsplit(".", 1)[-1]}={v}'
                                      for k, v in cfg_options.items()) + ')'
    return framework


def summary(runs: List[dict]) -> Dict[str, dict]:
    """Per run name (in order of appearance): mean and sd (n - 1) of mAP and mAP50."""
    out: Dict[str, dict] = {}
    for name in dict.fromkeys(r['name'] for r in runs):
        mine = [r for r in runs if r['name'] == name]
        out[name] = dict(runs=len(mine), diverged=sum(bool(r.get('diverged_at')) for r in mine))
        for key in ('mAP', 'mAP50'):
            values = [r[key] for r in mine]
            sd = statistics.stdev(values) if len(values) > 1 else float('nan')
            out[name][key] = (statistics.fmean(values), sd)
    return out


def format_summary(table: Dict[str, dict]) -> str:
    lines = ['| run | seeds | diverged | mAP (mean ± sd) | mAP50 (mean ± sd) |',
             '|---|---|---|---|---|']
    for name, row in table.items():
        lines.append(f"| {name} | {row['runs']} | {row.get('diverged', 0)} | "
                     f"{row['mAP'][0]:.3f} ± {row['mAP'][1]:.3f}"
                     f" | {row['mAP50'][0]:.3f} ± {row['mAP50'][1]:.3f} |")
    return '\n'.join(lines)


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    cum = np.cumsum(np.insert(np.asarray(values, np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (cum[idx] - cum[lo]) / (idx - lo)


def plot_curves(runs: List[dict], path: str, window: int = 20) -> None:
    """loss_cls and loss_bbox per iteration, mean over seeds, one line per run name;
    diverged runs dashed, each on its own."""
    plt = pyplot('the loss-curve plot of train_parity.py')
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ('loss_cls', 'loss_bbox')):
        for name in dict.fromkeys(r['name'] for r in runs):
            mine = [r for r in runs if r['name'] == name]
            curves = [r['curve'][key] for r in mine if not r.get('diverged_at')]
            if curves:
                mean = np.mean([smooth(c, window) for c in curves], axis=0)
                ax.plot(np.arange(1, len(mean) + 1), mean, label=f'{name} ({len(curves)} seeds)')
            for run in mine:  # a diverged run on its own, up to its last finite loss
                if run.get('diverged_at'):
                    ax.plot(np.arange(1, len(run['curve'][key]) + 1),
                            smooth(run['curve'][key], window), linestyle='--', linewidth=0.8,
                            label=f"{name} seed {run['seed']} (diverged at {run['diverged_at']})")
        ax.set_xlabel('iteration')
        ax.set_title(f'{key} (moving average of {window})')
        ax.legend(fontsize=7, loc='upper right')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def print_run(run: dict) -> None:
    if run.get('diverged_at'):
        print(f"{run['name']} seed {run['seed']}: diverged (non-finite loss at iteration "
              f"{run['diverged_at']}), scored 0  ({run['seconds']:.0f} s)", flush=True)
        return
    print(f"{run['name']} seed {run['seed']}: mAP {run['mAP']:.3f}  "
          f"mAP50 {run['mAP50']:.3f}  residual scale {run['residual_scale']:.3f}  "
          f"({run['seconds']:.0f} s)", flush=True)


def merged_runs(paths: Sequence[str]) -> tuple:
    """``(recipe dict, runs)`` of several ``results.json``; their recipes must agree."""
    recipe, runs = None, []
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        if recipe is not None and report['recipe'] != recipe:
            raise ValueError(f'{path} was trained with another recipe than {paths[0]}: '
                             f'{report["recipe"]} vs {recipe}')
        recipe = report['recipe']
        runs += [dict(run, name=run_name(run['framework'], report['cfg_options']))
                 for run in report['runs']]
    return recipe, runs


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.merge:
        recipe, runs = merged_runs(args.merge)
        for run in runs:
            print_run(run)
    else:
        recipe_obj = scaled_recipe(PRESETS[args.preset], args.iters)
        if args.lr is not None:
            recipe_obj = dataclasses.replace(recipe_obj, lr=args.lr)
        recipe = recipe_obj.__dict__
        root = os.path.abspath(args.data_root) if args.data_root else ensure_synthetic_dataset()
        runs = run_all([(framework, seed) for seed in args.seeds
                        for framework in args.frameworks], recipe_obj, root, args)
    table = summary(runs)
    print(format_summary(table))
    report = dict(recipe=recipe, preset=args.preset, cfg_options=args.cfg_options,
                  summary=table, runs=runs)
    results = os.path.join(args.out_dir, 'results.json')
    with open(results, 'w') as f:
        json.dump(report, f)
    try:
        plot_curves(runs, os.path.join(args.out_dir, 'loss_curves.png'))
    except ImportError as error:  # e.g. a GPU machine without matplotlib: keep the results
        print(f'{error}\nno loss_curves.png; draw it elsewhere with --merge {results}')
    return report


if __name__ == '__main__':
    main()
