"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Prints the COCO metrics (and a per-class table with
``--cfg-options test_evaluator.classwise=True``); ``--out`` saves the
predictions, ``--show-dir`` pictures of them. See docs/testing.md.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

from mmengine.config import ConfigDict

from detkit.engine import find_latest_complete_checkpoint
from detkit.engine.runner_utils import (add_common_args, build_runner, run_tool,
                                        set_checkpoint_strict, setup_common)
from detkit.utils import load_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a detector.')
    parser.add_argument('config', help='config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file, or a work dir: its newest '
                        'complete checkpoint')
    parser.add_argument('--out', help='save predictions to a .pkl or a .json (COCO results)')
    parser.add_argument('--show-dir', help='draw ground truth and predictions of every '
                        'image into this folder')
    parser.add_argument('--show', action='store_true', help='show each picture in a window')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest score drawn by --show-dir / --show (default 0.3)')
    add_common_args(parser)
    return parser.parse_args(argv)


def resolve_checkpoint(path: str) -> str:
    """``path`` itself, or the newest complete checkpoint when it is a folder."""
    if not os.path.isdir(path):
        return path
    found = find_latest_complete_checkpoint(path)
    if found is None:
        raise FileNotFoundError(f'no complete epoch_*.pth / iter_*.pth checkpoint in {path}')
    return found


def setup_outputs(cfg, args: argparse.Namespace) -> None:
    """``--out`` adds a DumpDetResults metric, ``--show-dir`` turns drawing on."""
    if args.out:
        evaluator = cfg.test_evaluator
        metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
        cfg.test_evaluator = metrics + [dict(type='DumpDetResults', out_file=args.out)]
    if args.show_dir or args.show:
        hooks = cfg.setdefault('default_hooks', ConfigDict())
        vis = hooks.get('visualization') or ConfigDict(type='DetVisualizationHook')
        vis.update(test_out_dir=args.show_dir, show=args.show, score_thr=args.score_thr)
        hooks.visualization = vis
    cfg.setdefault('custom_hooks', [])
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='ProgressBarHook')]


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    setup_common(cfg, args)
    cfg.load_from = resolve_checkpoint(args.checkpoint)
    cfg.resume = False
    set_checkpoint_strict(cfg, True)
    setup_outputs(cfg, args)
    runner = build_runner(cfg)
    runner.test()


if __name__ == '__main__':
    sys.exit(run_tool(main))
