"""A toy model, dataset and metric for running mmengine's Runner in tests."""
import itertools
import math

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset


_RUN_IDS = itertools.count()


class ToyModel(BaseModel):
    """``y = bn(linear(x))``; the loss is NaN at iterations in ``nan_at`` (1-based)."""

    def __init__(self, nan_at=()):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)
        self.nan_at = set(nan_at)
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.bn(self.linear(torch.stack(inputs)))
        if mode == 'loss':
            self.calls += 1
            target = torch.stack(data_samples)
            loss_a = ((out - target) ** 2).mean()
            if self.calls in self.nan_at:
                loss_a = loss_a * math.nan
            return dict(loss_a=loss_a, loss_b=0.1 * out.abs().mean())
        return [dict(pred=o) for o in out]


class ToyDataset(Dataset):
    """Eight points; ``__getitem__`` adds numpy noise, like a random augmentation."""

    metainfo = dict(classes=('a', 'b'), palette=[(1, 2, 3), (4, 5, 6)])

    def __len__(self):
        return 8

    def __getitem__(self, i):
        noise = float(np.random.uniform(-0.1, 0.1))
        return dict(inputs=torch.tensor([i + noise, 1.0]), data_samples=torch.tensor([i * 0.5]))


class ToyMetric(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.extend(float(s['pred']) for s in data_samples)

    def compute_metrics(self, results):
        return dict(score=np.float64(np.mean(results)))


def toy_runner(work_dir, max_epochs=2, model=None, resume=False, load_from=None,
               default_hooks=None, optim_wrapper=None):
    """An mmengine Runner over the toy pieces with detkit's default hooks."""
    hooks = dict(
        checkpoint=dict(type='CheckpointHook', interval=1, save_best='toy/score', rule='less'),
        nonfinite=dict(type='NonFiniteLossHook'),
        checkpoint_match=dict(type='CheckpointMatchHook'),
        epoch_seed=dict(type='EpochSeedHook'),
        logger=dict(type='LoggerHook', interval=1))
    hooks.update(default_hooks or {})
    if model is None:
        torch.manual_seed(0)  # the Runner seeds after the model exists
        model = ToyModel()
    loader = dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=True),
                  batch_size=2, num_workers=0)
    val_loader = dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                      batch_size=4, num_workers=0)
    return Runner(
        model=model, work_dir=str(work_dir),
        experiment_name=f'toy_{next(_RUN_IDS)}',  # one logger/visualizer per runner
        train_dataloader=loader, val_dataloader=val_loader, val_evaluator=[ToyMetric()],
        val_cfg=dict(), train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        optim_wrapper=optim_wrapper or dict(
            type='GuardedOptimWrapper',
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3),
            dict(type='MultiStepLR', by_epoch=True, milestones=[1], begin=0, end=4)],
        default_hooks=hooks, randomness=dict(seed=0), resume=resume, load_from=load_from,
        default_scope='detkit')
