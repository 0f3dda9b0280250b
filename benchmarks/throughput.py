"""Training throughput, whole iterations: detkit eager, detkit CUDA-graph, torchvision.

Every side runs complete iterations (forward, losses, backward, SGD step with
momentum) on the same synthetic batch, under AMP when asked (detkit: its
``AmpOptimWrapper``; torchvision: autocast + ``GradScaler``). detkit's SGD is
fused on CUDA, as its tools make it (``detkit.engine.device_defaults``);
torchvision's is the plain one its reference scripts use. The graph side is
:class:`~detkit.engine.GraphTrainStep`, captured on CUDA; on the CPU it runs
its static buffers eagerly, which shows its overhead, not its gain.

:func:`run_demo_iteration` times the embedded demo's own iteration
(``configs/retinanet_r18_fpn_synthetic.py``: batch 8 of 256×256 images,
AdamW with gradient clipping), eager and from a graph.
"""
import copy
import os
from dataclasses import replace
from typing import Callable, Dict, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from detkit.engine import GraphTrainStep
from detkit.utils.compat import grad_scaler_class
from .compare import CompareConfig
from .detkit_side import DetkitSide
from .inputs import make_batch
from .options import BenchOptions, autocast
from .timing import median, time_interleaved
from .torchvision_side import TorchvisionSide

SGD = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)
DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'configs', 'retinanet_r18_fpn_synthetic.py')


def _optim_wrapper(model: torch.nn.Module, opts: BenchOptions, wrapper: Optional[dict] = None):
    wrapper = dict(type='OptimWrapper', **copy.deepcopy(wrapper or dict(optimizer=SGD)))
    if opts.device.startswith('cuda'):
        wrapper['optimizer']['fused'] = True
    if opts.amp and opts.device.startswith('cuda'):
        wrapper.update(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
    return build_optim_wrapper(model, wrapper)


def _detkit_eager(side: DetkitSide, data: dict, opts: BenchOptions,
                  optim: Optional[dict] = None) -> Callable[[], None]:
    wrapper = _optim_wrapper(side.model, opts, optim)
    side.model.train()
    return lambda: side.model.train_step(data, wrapper)


def _detkit_graph(side: DetkitSide, data: dict, opts: BenchOptions,
                  size: Sequence[int], optim: Optional[dict] = None) -> Callable[[], None]:
    canvas = tuple(-(-s // 32) * 32 for s in size)
    side.model.train()
    step = GraphTrainStep(side.model, _optim_wrapper(side.model, opts, optim), canvas=canvas,
                          max_gts=max(len(s.gt_instances) for s in data['data_samples']),
                          capture=side.device.type == 'cuda')
    return lambda: step(data)


def _detkit_pair(opts: BenchOptions, batch, size: Sequence[int],
                 optim: Optional[dict] = None) -> Dict[str, Callable[[], None]]:
    """detkit's eager and graph iterations on ``batch``, from the same initial weights."""
    eager, graph = DetkitSide(opts), DetkitSide(opts)
    graph.model.load_state_dict(eager.model.state_dict())
    data = eager._data(batch, with_gt=True)
    return dict(detkit=_detkit_eager(eager, data, opts, optim),
                detkit_graph=_detkit_graph(graph, data, opts, size, optim))


def _torchvision(side: TorchvisionSide, batch, opts: BenchOptions) -> Callable[[], None]:
    model, images, targets = side.model, side._images(batch), side._targets(batch)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in SGD.items() if k != 'type'})
    scaler = grad_scaler_class()(enabled=opts.amp and side.device.type == 'cuda')
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(side.device, opts.amp):
            loss = sum(model(images, targets).values())
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return step


def run_throughput(opts: BenchOptions, cfg: CompareConfig, batches: Sequence[int]) -> Dict:
    """``{batch: {side: images/s, …, 'memory_MiB': {side: peak}}}`` for each batch size."""
    height, width = cfg.size
    report = {}
    for batch_size in batches:
        batch = make_batch(batch_size, height, width, cfg.boxes, opts.num_classes)
        fns = _detkit_pair(opts, batch, (height, width))
        fns['torchvision'] = _torchvision(TorchvisionSide(opts, height, width), batch, opts)
        times, memory = _time(fns, opts, cfg)
        row = {name: batch_size / median(ts) for name, ts in times.items()}
        row['graph_vs_torchvision'] = row['detkit_graph'] / row['torchvision']
        row['eager_vs_torchvision'] = row['detkit'] / row['torchvision']
        row['memory_MiB'] = memory
        report[batch_size] = row
    return report


def _time(fns: Dict[str, Callable[[], None]], opts: BenchOptions, cfg: CompareConfig):
    """Warm up (and capture) one side at a time with its peak memory, then time in turns."""
    memory = {}
    for name, fn in fns.items():
        if opts.torch_device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        for _ in range(max(cfg.warmup, 4 if name == 'detkit_graph' else 1)):
            fn()
        if opts.torch_device.type == 'cuda':
            memory[name] = torch.cuda.max_memory_allocated() / 2 ** 20
    times = time_interleaved(fns, cfg.repeats, warmup=0, device=opts.torch_device,
                             clock=cfg.clock)
    return times, memory


def run_demo_iteration(opts: BenchOptions, cfg: CompareConfig, batch_size: int = 8,
                       size: int = 256, boxes: int = 4) -> Dict[str, float]:
    """Seconds per iteration of the demo config's model and optimizer, eager and graph."""
    demo = replace(opts, config=DEMO_CONFIG, num_classes=5)
    wrapper = Config.fromfile(DEMO_CONFIG).optim_wrapper  # the demo's optimizer and clipping
    optim = dict(optimizer=wrapper.optimizer, clip_grad=wrapper.get('clip_grad'))
    batch = make_batch(batch_size, size, size, boxes, demo.num_classes)
    times, _ = _time(_detkit_pair(demo, batch, (size, size), optim), demo, cfg)
    return {name: median(ts) for name, ts in times.items()}


def format_demo_iteration(seconds: Dict[str, float]) -> str:
    return (f'demo config (batch 8, 256x256, AdamW + clipping): eager '
            f'{seconds["detkit"]:.4f} s/it, graph {seconds["detkit_graph"]:.4f} s/it')


def format_throughput(report: Dict) -> str:
    lines = ['| batch | detkit eager (img/s) | detkit graph (img/s) | torchvision (img/s) '
             '| graph / tv | eager / tv | peak MiB (eager / graph / tv) |',
             '|---|---|---|---|---|---|---|']
    for batch_size, row in report.items():
        mem = row['memory_MiB']
        shown = ' / '.join(f'{mem[k]:.0f}' for k in ('detkit', 'detkit_graph', 'torchvision')
                           ) if mem else 'n/a'
        lines.append(f'| {batch_size} | {row["detkit"]:.1f} | {row["detkit_graph"]:.1f} | '
                     f'{row["torchvision"]:.1f} | {row["graph_vs_torchvision"]:.2f} | '
                     f'{row["eager_vs_torchvision"]:.2f} | {shown} |')
    return '\n'.join(lines)

