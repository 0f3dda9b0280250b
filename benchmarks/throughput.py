"""Training throughput, whole iterations: detkit eager, detkit CUDA-graph, torchvision.

Every side runs complete iterations (forward, losses, backward, SGD step with
momentum) on the same synthetic batch, under AMP when asked (detkit: its
``AmpOptimWrapper``; torchvision: autocast + ``GradScaler``). The graph side
is :class:`~detkit.engine.GraphTrainStep`, captured on CUDA; on the CPU it
runs its static buffers eagerly, which shows its overhead, not its gain.
"""
import copy
from typing import Callable, Dict, Sequence

import torch
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


def _optim_wrapper(model: torch.nn.Module, opts: BenchOptions):
    wrapper = dict(type='OptimWrapper', optimizer=copy.deepcopy(SGD))
    if opts.amp and opts.device.startswith('cuda'):
        wrapper.update(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
    return build_optim_wrapper(model, wrapper)


def _detkit_eager(side: DetkitSide, data: dict, opts: BenchOptions) -> Callable[[], None]:
    wrapper = _optim_wrapper(side.model, opts)
    side.model.train()
    return lambda: side.model.train_step(data, wrapper)


def _detkit_graph(side: DetkitSide, data: dict, opts: BenchOptions,
                  size: Sequence[int]) -> Callable[[], None]:
    canvas = tuple(-(-s // 32) * 32 for s in size)
    side.model.train()
    step = GraphTrainStep(side.model, _optim_wrapper(side.model, opts), canvas=canvas,
                          max_gts=max(len(s.gt_instances) for s in data['data_samples']),
                          capture=side.device.type == 'cuda')
    return lambda: step(data)


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
        fns, memory = {}, {}
        eager, graph = DetkitSide(opts), DetkitSide(opts)
        graph.model.load_state_dict(eager.model.state_dict())
        data = eager._data(batch, with_gt=True)
        fns['detkit'] = _detkit_eager(eager, data, opts)
        fns['detkit_graph'] = _detkit_graph(graph, data, opts, (height, width))
        fns['torchvision'] = _torchvision(TorchvisionSide(opts, height, width), batch, opts)
        for name, fn in fns.items():  # warm up (and capture) one side at a time, memory apart
            if opts.torch_device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats()
            for _ in range(max(cfg.warmup, 4 if name == 'detkit_graph' else 1)):
                fn()
            if opts.torch_device.type == 'cuda':
                memory[name] = torch.cuda.max_memory_allocated() / 2 ** 20
        times = time_interleaved(fns, cfg.repeats, warmup=0, device=opts.torch_device,
                                 clock=cfg.clock)
        row = {name: batch_size / median(ts) for name, ts in times.items()}
        row['graph_vs_torchvision'] = row['detkit_graph'] / row['torchvision']
        row['eager_vs_torchvision'] = row['detkit'] / row['torchvision']
        row['memory_MiB'] = memory
        report[batch_size] = row
    return report


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

