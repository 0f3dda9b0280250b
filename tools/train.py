"""Train a detector from a config: ``python tools/train.py CONFIG [options]``.

Single process (CPU or one GPU), or one process per GPU / CPU worker under
``torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch``
(``tools/dist_train.sh``) or ``srun`` (``--launcher slurm``,
``tools/slurm_train.sh``). See docs/training.md.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

from mmengine.logging import print_log

from detkit.engine import find_latest_complete_checkpoint
from detkit.engine.runner_utils import (add_common_args, build_runner, enable_amp,
                                        enable_auto_scale_lr, enable_cuda_graph, run_tool,
                                        set_checkpoint_strict, setup_common)
from detkit.utils import load_config
from detkit.utils.dataset_zoo import missing_dataset_message


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector.')
    parser.add_argument('config', help='config file (.py, .yaml or .json)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        metavar='CHECKPOINT',
                        help='resume training: from CHECKPOINT, or without a value from the '
                        'newest complete checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 (or --amp-dtype) AMP on CUDA, '
                        'bf16 autocast on CPUs')
    parser.add_argument('--amp-dtype', choices=['float16', 'bfloat16'], default='float16',
                        help='AMP dtype on CUDA (default float16)')
    parser.add_argument('--cuda-graph', action='store_true',
                        help='replay each training iteration from a CUDA graph (static '
                        'shapes; see docs/benchmarks.md); eager with a notice without CUDA')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (slower; bit-exact resumes on CPU)')
    add_common_args(parser)
    return parser.parse_args(argv)


def setup_resume(cfg, resume: Optional[str]) -> None:
    """``--resume``: an explicit checkpoint, or the newest complete one."""
    if resume is None:
        return
    if resume == 'auto':
        resume = find_latest_complete_checkpoint(cfg.work_dir) if os.path.isdir(
            cfg.work_dir) else None
        if resume is None:
            print_log(f'--resume: no complete checkpoint in {cfg.work_dir}; '
                      'training from the start.', logger='current')
            return
    cfg.resume = True
    cfg.load_from = resume
    set_checkpoint_strict(cfg, True)


def setup_randomness(cfg, seed: Optional[int], deterministic: bool) -> None:
    randomness = dict(cfg.get('randomness') or {})
    randomness.setdefault('seed', None)  # None: mmengine draws one and stores it
    if seed is not None:
        randomness['seed'] = seed
    if deterministic:
        randomness['deterministic'] = True
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    cfg.randomness = randomness


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    missing = missing_dataset_message(cfg)
    if missing is not None:  # before the runner downloads weights for nothing
        raise FileNotFoundError(missing)
    setup_common(cfg, args)
    setup_resume(cfg, args.resume)
    setup_randomness(cfg, args.seed, args.deterministic)
    if args.amp:
        enable_amp(cfg, args.amp_dtype)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if args.cuda_graph:
        cfg.train_cfg.cuda_graph = cfg.train_cfg.get('cuda_graph') or True
    enable_cuda_graph(cfg)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    sys.exit(run_tool(main))
