"""The side-by-side measures: detkit vs torchvision on the same inputs."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .detkit_side import DetkitSide
from .inputs import make_batch, make_head_outputs
from .memory import measure_in_subprocess
from .options import BenchOptions
from .timing import median, time_interleaved
from .torchvision_side import TorchvisionSide

MEASURES = ('train_step', 'infer_b1', 'infer_b8', 'loss_part', 'postprocess', 'peak_mem_train')
#: what ``measures`` may name: the above, with any ``infer_b<N>``
MEASURE_KINDS = ('train_step', 'infer', 'loss_part', 'postprocess', 'peak_mem_train')
#: the ratio detkit / torchvision each measure should reach (issue 5)
TARGETS = dict(train_step=0.85, infer_b1=0.9, infer_b8=0.9, loss_part=0.3, postprocess=0.5,
               peak_mem_train=1.0)
UNITS = dict(peak_mem_train='MiB')


@dataclass
class CompareConfig:
    """Sizes of the side-by-side run (the issue's defaults)."""

    size: Tuple[int, int] = (512, 512)
    batch: int = 2
    boxes: int = 3
    infer_batches: Tuple[int, ...] = (1, 8)
    repeats: int = 5
    warmup: int = 1
    measures: Sequence[str] = MEASURE_KINDS
    threads: int = 0
    mem_steps: int = 1
    clock: str = 'wall'


def _entry(times: Dict[str, List[float]]) -> Dict[str, float]:
    det, tv = median(times['detkit']), median(times['torchvision'])
    return dict(detkit=det, torchvision=tv, ratio=det / tv,
                detkit_runs=times['detkit'], torchvision_runs=times['torchvision'])


def run_compare(opts: BenchOptions, cfg: CompareConfig,
                sides: Optional[Tuple[DetkitSide, TorchvisionSide]] = None) -> Dict[str, dict]:
    """``{measure: {"detkit": s, "torchvision": s, "ratio": r, …}}`` for ``cfg.measures``."""
    h, w = cfg.size
    det, tv = sides or (DetkitSide(opts), TorchvisionSide(opts, h, w))
    device = opts.torch_device
    results: Dict[str, dict] = {}
    train = make_batch(cfg.batch, h, w, cfg.boxes, opts.num_classes, seed=0)

    def timed(name: str, det_fn, tv_fn) -> None:
        times = time_interleaved(dict(detkit=det_fn, torchvision=tv_fn), cfg.repeats,
                                 cfg.warmup, device, cfg.clock)
        results[name] = _entry(times)

    if 'train_step' in cfg.measures:
        timed('train_step', det.train_step(train), tv.train_step(train))
    for b in cfg.infer_batches:
        name = f'infer_b{b}'
        if 'infer' in cfg.measures or name in cfg.measures:
            batch = make_batch(b, h, w, cfg.boxes, opts.num_classes, seed=1)
            timed(name, det.infer(batch), tv.infer(batch))
    if 'loss_part' in cfg.measures or 'postprocess' in cfg.measures:
        cls, reg = make_head_outputs(cfg.batch, h, w, opts.num_classes, seed=2)
        if 'loss_part' in cfg.measures:
            timed('loss_part', det.loss_part(train, cls, reg), tv.loss_part(train, cls, reg))
        if 'postprocess' in cfg.measures:
            timed('postprocess', det.postprocess(train, cls, reg), tv.postprocess(train, cls, reg))
    if 'peak_mem_train' in cfg.measures:
        mem = {name: measure_in_subprocess(name, opts, cfg.size, cfg.batch, cfg.boxes,
                                           steps=cfg.mem_steps,
                                           threads=cfg.threads or torch.get_num_threads())
               for name in ('detkit', 'torchvision')}
        results['peak_mem_train'] = dict(detkit=mem['detkit'], torchvision=mem['torchvision'],
                                         ratio=mem['detkit'] / mem['torchvision'])
    for name, entry in results.items():
        entry.update(unit=UNITS.get(name, 's'), target=TARGETS.get(name))
    return results


def format_table(results: Dict[str, dict], targets: Dict[str, float] = TARGETS) -> str:
    """A fixed-width table: measure, both values, ratio, target, verdict."""
    lines = [f'{"measure":<16}{"detkit":>12}{"torchvision":>14}{"ratio":>8}{"target":>8}  ok',
             '-' * 62]
    for name, entry in results.items():
        unit = UNITS.get(name, 's')
        fmt = (lambda v: f'{v:.0f} MiB') if unit == 'MiB' else (lambda v: f'{v * 1e3:.1f} ms')
        target = targets.get(name)
        verdict = '' if target is None else ('yes' if entry['ratio'] <= target else 'NO')
        target_txt = '' if target is None else f'≤{target:g}'
        lines.append(f'{name:<16}{fmt(entry["detkit"]):>12}{fmt(entry["torchvision"]):>14}'
                     f'{entry["ratio"]:>8.3f}{target_txt:>8}  {verdict}')
    return '\n'.join(lines)
