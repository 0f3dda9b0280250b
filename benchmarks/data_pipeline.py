"""Data-pipeline speed: images/s of a config's training dataloader.

    python benchmarks/data_pipeline.py CONFIG [--workers 0 2] [--num-images 400]
        [--phase train|val] [--cfg-options KEY=VALUE ...]

Builds the dataloader the way mmengine's Runner does (dataset, sampler,
batch sampler, pseudo_collate), skips the first batch (worker start-up), then
times ``--num-images`` images for each ``num_workers``. Prints one line per
setting: ``num_workers=N: X images/s``.
"""
import argparse
import copy
import time
from typing import Dict, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner


def images_per_second(dataloader_cfg: dict, num_workers: int, num_images: int) -> float:
    """Images/s of the dataloader built from ``dataloader_cfg`` with ``num_workers``."""
    cfg = copy.deepcopy(dataloader_cfg)
    cfg.update(num_workers=num_workers, persistent_workers=num_workers > 0)
    loader = Runner.build_dataloader(cfg, seed=0)
    seen, start, first = 0, 0.0, True
    while seen < num_images:
        for batch in loader:
            if first:  # worker start-up and caches are not the pipeline's speed
                first, start = False, time.perf_counter()
                continue
            seen += len(batch['inputs'])
            if seen >= num_images:
                break
    return seen / (time.perf_counter() - start)


def run(config: str, workers: Sequence[int], num_images: int, phase: str = 'train',
        cfg_options: dict = None) -> Dict[int, float]:
    """``{num_workers: images/s}`` for the config's ``{phase}_dataloader``."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'detkit'))
    dataloader_cfg = cfg[f'{phase}_dataloader'].to_dict()
    return {w: images_per_second(dataloader_cfg, w, num_images) for w in workers}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 2],
                        help='num_workers settings to time')
    parser.add_argument('--num-images', type=int, default=400, help='images timed per setting')
    parser.add_argument('--phase', choices=('train', 'val'), default='train')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    results = run(args.config, args.workers, args.num_images, args.phase, args.cfg_options)
    for workers, speed in results.items():
        print(f'num_workers={workers}: {speed:.1f} images/s')


if __name__ == '__main__':
    main()
