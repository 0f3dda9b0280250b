"""The static (CUDA-graph) training step: same numbers as ``model.train_step``, no host sync.

On the CPU the step runs its static buffers eagerly (``capture=False``); the
capture itself is tested where CUDA is present.
"""
import copy

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import build_optim_wrapper

from detkit.engine import GraphTrainStep
from detkit.engine.graph_update import update_capture_blocker
from detkit.registry import MODELS
from detkit.utils.sync_recorder import SyncRecorder
from tests.models.test_train_steps import step_batch


def _model_and_optim(ref, device='cpu', optim_wrapper=None):
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(ref['meta']['config'])).to(device)
    model.load_state_dict(ref['inputs']['initial_state_dict'], strict=True)
    model.train()
    cfg = copy.deepcopy(optim_wrapper or ref['meta']['optim_wrapper'])
    return model, build_optim_wrapper(model, cfg)


def test_static_step_equals_train_step(load_ref):
    """Three iterations on one batch shape: losses and parameters as the eager runner's."""
    ref = load_ref('train_steps')
    eager, eager_optim = _model_and_optim(ref)
    static, static_optim = _model_and_optim(ref)
    step = GraphTrainStep(static, static_optim, canvas=(128, 192), capture=False)
    eager_losses = []
    for _ in range(3):
        log_vars = eager.train_step(step_batch(ref['inputs'], 0), eager_optim)
        eager_losses.append(float(log_vars['loss'].detach()))
        step(step_batch(ref['inputs'], 0))
    means = step.read_losses()
    assert means['loss'] == pytest.approx(sum(eager_losses) / 3, rel=1e-6)
    assert set(means) == {'loss', 'loss_cls', 'loss_bbox'} and step.read_losses() == {}
    for (name, a), b in zip(eager.state_dict().items(), static.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7, msg=name)


def test_static_step_does_not_sync(load_ref):
    """Padding, preprocessing, forward, loss, backward, clipping, SGD step: no host sync."""
    ref = load_ref('train_steps')
    wrapper = dict(copy.deepcopy(ref['meta']['optim_wrapper']), clip_grad=dict(max_norm=10.))
    model, optim = _model_and_optim(ref, optim_wrapper=wrapper)
    step = GraphTrainStep(model, optim, canvas=(160, 224), capture=False)
    step(step_batch(ref['inputs'], 0))  # the first iteration creates the grads and sums
    with SyncRecorder() as rec:
        step(step_batch(ref['inputs'], 1))
        step(step_batch(ref['inputs'], 2))
    assert rec.events == [], rec.summary()


def test_canvas_orientation_capacity_and_errors(load_ref, log_messages):
    ref = load_ref('train_steps')
    model, optim = _model_and_optim(ref)
    step = GraphTrainStep(model, optim, canvas=(192, 160), max_gts=1, capture=False)
    batch = step.prepare(step_batch(ref['inputs'], 0))  # 128x192: fits the transposed canvas
    assert batch['canvas'] == (160, 192) and batch['inputs'].shape[-2:] == (160, 192)
    assert batch['gts'].bboxes.shape[1] == 1 and batch['gts'].ignore_valid.shape == (2, 16)
    step(step_batch(ref['inputs'], 0))
    assert any('2 gts beyond max_gts=1 per image' in m for m in log_messages)
    last = step_batch(ref['inputs'], 0)
    last = dict(inputs=last['inputs'][:1], data_samples=last['data_samples'][:1])
    step(last)  # a smaller last batch runs on its own buffers
    assert sorted(k[1] for k in step._static) == [1, 2] and step.batch_size == 2
    small = GraphTrainStep(model, optim, canvas=(96, 96), warmup_iters=1, capture=False)
    before = model.bbox_head.retina_cls.weight.detach().clone()
    for _ in range(2):
        small(step_batch(ref['inputs'], 0))  # 128x192: trained eagerly at its own size
    assert not small._graphs and not small._static and small.oversize_batches == 2
    assert not torch.equal(before, model.bbox_head.retina_cls.weight)
    assert sum('a batch of (128, 192) does not fit the canvas (96, 96)' in m
               and 'trained eagerly (1 of 1 batches' in m for m in log_messages) == 1
    with pytest.raises(ValueError, match='warmup_iters'):
        GraphTrainStep(model, optim, canvas=(96, 96), warmup_iters=0)


FUSED_SGD = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9,
                                                     weight_decay=1e-4, fused=True))
FUSED_ADAMW = dict(type='OptimWrapper', clip_grad=dict(max_norm=1.0),
                   optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, fused=True))


def _scheduled_lr(optim, i):
    """What an lr scheduler does between iterations: a new float in every group."""
    for group in optim.optimizer.param_groups:
        group['lr'] = group['initial_lr'] * (0.2 + 0.3 * i)


@pytest.mark.parametrize('wrapper', [FUSED_SGD, FUSED_ADAMW,
                                     dict(FUSED_SGD, paramwise_cfg=dict(bias_lr_mult=2.0))],
                         ids=['sgd', 'adamw_clip', 'sgd_group_per_param'])
def test_recorded_update_follows_the_lr_schedule(load_ref, wrapper):
    """The optimizer step as a graph records it (lrs read from tensors) equals eager steps."""
    ref = load_ref('train_steps')
    eager, eager_optim = _model_and_optim(ref, optim_wrapper=wrapper)
    static, static_optim = _model_and_optim(ref, optim_wrapper=wrapper)
    for optim in (eager_optim, static_optim):
        for group in optim.optimizer.param_groups:
            group['initial_lr'] = group['lr']
    step = GraphTrainStep(static, static_optim, canvas=(128, 192), warmup_iters=1,
                          capture=False)
    for i in range(5):
        _scheduled_lr(eager_optim, i)
        _scheduled_lr(static_optim, i)
        eager.train_step(step_batch(ref['inputs'], 0), eager_optim)  # padding would change BN
        step(step_batch(ref['inputs'], 0))
    assert step._lrs is not None and len(step._graphs) == 1
    groups = static_optim.optimizer.param_groups
    assert len(step._lrs.lrs) == len(groups)
    if 'paramwise_cfg' in wrapper:  # weights and biases at two lrs, a group per parameter
        assert len(groups) > 2 and len({g['lr'] for g in groups}) == 2
    assert all(isinstance(g['lr'], float) for g in static_optim.optimizer.param_groups)
    for (name, a), b in zip(eager.state_dict().items(), static.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7, msg=name)


def test_recorded_update_does_not_sync_and_is_recorded_again(load_ref, log_messages):
    ref = load_ref('train_steps')
    wrapper = dict(FUSED_SGD, clip_grad=dict(max_norm=10.))
    model, optim = _model_and_optim(ref, optim_wrapper=wrapper)
    step = GraphTrainStep(model, optim, canvas=(160, 224), warmup_iters=1, capture=False)
    step(step_batch(ref['inputs'], 0))
    step(step_batch(ref['inputs'], 1))  # recorded here
    first = next(iter(step._graphs.values()))
    with SyncRecorder() as rec:
        step(step_batch(ref['inputs'], 2))
        step(step_batch(ref['inputs'], 0))
    assert rec.events == [], rec.summary()
    assert next(iter(step._graphs.values())) is first
    optim.optimizer.param_groups[0]['momentum'] = 0.8  # a momentum scheduler
    step(step_batch(ref['inputs'], 1))
    assert next(iter(step._graphs.values())) is not first
    assert any('recording the step again' in m for m in log_messages)


def test_unfused_optimizer_steps_outside_the_graph(load_ref, log_messages):
    ref = load_ref('train_steps')
    model, optim = _model_and_optim(ref)  # plain SGD
    step = GraphTrainStep(model, optim, canvas=(160, 224), warmup_iters=1, capture=False)
    before = [p.detach().clone() for p in model.parameters()]
    for i in range(3):
        step(step_batch(ref['inputs'], i))
    assert step._lrs is None and step._graphs
    assert any('steps outside the graph: SGD is not fused' in m for m in log_messages)
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters())
               if p.grad is not None and p.grad.abs().sum() > 0)
    adagrad = torch.optim.Adagrad(model.parameters())
    assert update_capture_blocker(adagrad) == 'Adagrad is not one of SGD, Adam, AdamW'


def _portrait(batch):
    """The batch transposed: images, boxes and shapes (a portrait batch)."""
    for sample in batch['data_samples']:
        height, width = sample.metainfo['img_shape']
        sample.set_metainfo(dict(img_shape=(width, height), ori_shape=(width, height)))
        sample.gt_instances.bboxes = sample.gt_instances.bboxes[:, [1, 0, 3, 2]]
    return dict(inputs=[img.transpose(1, 2).contiguous() for img in batch['inputs']],
                data_samples=batch['data_samples'])


def test_a_new_orientation_runs_eagerly_once_before_it_is_recorded(load_ref):
    ref = load_ref('train_steps')
    model, optim = _model_and_optim(ref)
    step = GraphTrainStep(model, optim, canvas=(128, 192), warmup_iters=1, capture=False)
    landscape, portrait = ((128, 192), 2), ((192, 128), 2)
    step(step_batch(ref['inputs'], 0))
    step(step_batch(ref['inputs'], 0))
    assert set(step._graphs) == {landscape}
    step(_portrait(step_batch(ref['inputs'], 0)))
    assert set(step._graphs) == {landscape} and portrait in step._warm
    step(_portrait(step_batch(ref['inputs'], 0)))
    assert set(step._graphs) == {landscape, portrait}


class _FakeCapture:
    """Stands in for ``torch.cuda.graph`` on the CPU: notes what the capture saw."""

    def __init__(self, seen, fail):
        self.seen, self.fail = seen, fail

    def __call__(self, graph, **kwargs):
        self.seen.append(dict(kwargs))
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.fail:
            raise RuntimeError('operation not permitted when stream is capturing')
        return False


@pytest.mark.parametrize('fail', [False, True], ids=['captures', 'capture_fails'])
def test_capture_path_on_the_cpu(load_ref, monkeypatch, fail):
    """The capture branch with torch.cuda's graph API faked: its mode, the lrs it records
    with (device tensors, floats again after), the error that names the way out."""
    ref = load_ref('train_steps')
    model, optim = _model_and_optim(ref, optim_wrapper=FUSED_SGD)
    seen, lr_types = [], []
    fake = _FakeCapture(seen, fail)
    real_forward_backward = GraphTrainStep._forward_backward

    def forward_backward(self, static):
        lr_types.append(type(optim.optimizer.param_groups[0]['lr']))
        real_forward_backward(self, static)

    monkeypatch.setattr(GraphTrainStep, '_forward_backward', forward_backward)
    monkeypatch.setattr(torch.cuda, 'graph', fake)
    monkeypatch.setattr(torch.cuda, 'synchronize', lambda: None)
    no_op_graph = type('Graph', (), {'replay': lambda self: None})
    monkeypatch.setattr(torch.cuda, 'CUDAGraph', no_op_graph)
    step = GraphTrainStep(model, optim, canvas=(128, 192), warmup_iters=1, capture=True)
    step(step_batch(ref['inputs'], 0))
    if fail:
        with pytest.raises(RuntimeError, match='capture_update=False'):
            step(step_batch(ref['inputs'], 0))
    else:
        step(step_batch(ref['inputs'], 0))
        assert len(step._graphs) == 1
    assert seen == [dict(capture_error_mode='thread_local')]
    assert lr_types == [float, torch.Tensor]
    assert isinstance(optim.optimizer.param_groups[0]['lr'], float)


CUDA_WRAPPERS = [None, FUSED_SGD,
                 dict(FUSED_ADAMW, type='AmpOptimWrapper', loss_scale='dynamic')]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA graph capture needs CUDA')
@pytest.mark.parametrize('wrapper', CUDA_WRAPPERS, ids=['sgd_eager_update', 'fused_sgd',
                                                        'fused_adamw_amp_clip'])
def test_captured_replay_equals_eager_on_cuda(load_ref, wrapper):
    ref = load_ref('train_steps')
    runs = []
    for capture in (False, True):
        model, optim = _model_and_optim(ref, device='cuda', optim_wrapper=wrapper)
        for group in optim.optimizer.param_groups:
            group['initial_lr'] = group['lr']
        step = GraphTrainStep(model, optim, canvas=(160, 224), warmup_iters=2, capture=capture)
        for i in range(6):
            _scheduled_lr(optim, i)
            step(step_batch(ref['inputs'], i % 3))
        assert isinstance(next(iter(step._graphs.values())), torch.cuda.CUDAGraph) == capture
        assert (step._lrs is not None) == (wrapper is not None)
        runs.append((step.read_losses(), model.state_dict()))
    (eager_logs, eager_state), (graph_logs, graph_state) = runs
    assert graph_logs['loss'] == pytest.approx(eager_logs['loss'], rel=1e-4)
    for name, value in eager_state.items():
        torch.testing.assert_close(graph_state[name], value, rtol=1e-4, atol=1e-6, msg=name)


def test_graph_loop_trains_and_logs_interval_means(tmp_path, tiny, monkeypatch):
    """The loop on the CPU, with its step forced to the static (uncaptured) one."""
    import argparse

    from mmengine.config import DictAction

    from detkit.engine import CudaGraphEpochBasedTrainLoop
    from detkit.engine.runner_utils import build_runner, enable_cuda_graph
    from detkit.utils import load_config
    from tools.runner import DEMO

    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(tiny(max_epochs=1, **{'default_hooks.logger.interval': 4}))
    cfg = load_config(str(DEMO), options.cfg_options)
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.cuda_graph = dict(canvas=(128, 128), max_gts=40)
    enable_cuda_graph(cfg)

    def static_step(loop):
        if loop._step is None:
            loop._step = GraphTrainStep(loop.runner.model, loop.runner.optim_wrapper,
                                        capture=False, **loop.graph_args)
        return loop._step

    monkeypatch.setattr(CudaGraphEpochBasedTrainLoop, '_graph_step', static_step)
    runner = build_runner(cfg)
    logged = []
    runner.register_hook(_Record(logged), priority='LOWEST')
    runner.train()
    # 8 iterations, logged at 4 and 8 (the end of the epoch) as means over the interval
    assert [i for i, _ in logged] == [3, 7]
    assert all(set(out) == {'loss', 'loss_cls', 'loss_bbox'} for _, out in logged)
    assert runner.train_loop._step.iters == 8


class _Record(Hook):
    """Keeps (iteration, outputs) of the iterations that have outputs."""

    def __init__(self, into):
        self.into = into

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if outputs:
            self.into.append((runner.iter, dict(outputs)))
