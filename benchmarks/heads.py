"""The loss part of detkit's dense heads side by side: RetinaNet, ATSS, GFL, or any configs."""
import os
from dataclasses import replace
from typing import Dict, List, Sequence

import torch

from .compare import CompareConfig
from .detkit_side import DetkitSide
from .inputs import level_sizes, make_batch
from .options import BenchOptions
from .timing import median, time_interleaved

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
#: the heads compared by default: RetinaNet's (the reference of the ratios), ATSS's, GFL's,
#: FCOS's
HEAD_CONFIGS = tuple(os.path.join(CONFIGS, path) for path in (
    '_base_/models/retinanet_r50_fpn.py', 'atss/atss_r50_fpn_1x_coco.py',
    'gfl/gfl_r50_fpn_1x_coco.py', 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'))


def head_outputs(side: DetkitSide, batch_size: int, height: int, width: int,
                 seed: int = 2) -> List[List[torch.Tensor]]:
    """The head's own (untrained) outputs for seeded N(0, 1) FPN features of a
    ``height × width`` input: one list of levels per output, whatever the head returns."""
    gen = torch.Generator().manual_seed(seed)
    feats = [torch.randn(batch_size, side.head.in_channels, h, w, generator=gen)
             for h, w in level_sizes(height, width)]
    with torch.no_grad():
        outs = side.head([f.to(side.device) for f in feats])
    return [[level.detach().cpu() for level in output] for output in outs]


def run_heads(opts: BenchOptions, cfg: CompareConfig,
              configs: Sequence[str] = HEAD_CONFIGS) -> Dict[str, dict]:
    """``{config name: {"loss_part": s, "ratio": s / first config's, "priors": N, …}}``.

    Every head gets the same batch and boxes (``cfg.batch``, ``cfg.size``,
    ``cfg.boxes``); the loss parts are timed in turns, round by round.
    """
    h, w = cfg.size
    batch = make_batch(cfg.batch, h, w, cfg.boxes, opts.num_classes, seed=0)
    steps, priors = {}, {}
    for path in configs:
        name = os.path.splitext(os.path.basename(path))[0]
        side = DetkitSide(replace(opts, config=path))
        steps[name] = side.loss_part(batch, *head_outputs(side, cfg.batch, h, w))
        priors[name] = sum(a * hl * wl for a, (hl, wl) in zip(
            side.head.prior_generator.num_base_priors, level_sizes(h, w)))
    times = time_interleaved(steps, cfg.repeats, cfg.warmup, opts.torch_device, cfg.clock)
    first = median(times[next(iter(times))])
    return {name: dict(loss_part=median(runs), ratio=median(runs) / first, priors=priors[name],
                       runs=runs, unit='s') for name, runs in times.items()}


def format_heads(results: Dict[str, dict]) -> str:
    """A Markdown table: config, priors per image, loss part (ms), ratio to the first row."""
    lines = ['| config | priors/img | loss_part (ms) | ratio |', '|---|---|---|---|']
    for name, entry in results.items():
        lines.append(f'| {name} | {entry["priors"]} | {entry["loss_part"] * 1e3:.1f} | '
                     f'{entry["ratio"]:.2f} |')
    return '\n'.join(lines)
