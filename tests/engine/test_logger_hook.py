import os.path as osp

import pytest
from mmengine.hooks import LoggerHook as MMEngineLoggerHook
from mmengine.runner import Runner

from detkit.engine.hooks import LoggerHook, logger_hook
from .toy import ToyDataset, ToyMetric, ToyModel


def _test_runner(work_dir, name):
    loader = dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                  batch_size=4, num_workers=0)
    return Runner(model=ToyModel(), work_dir=str(work_dir), experiment_name=name,
                  test_dataloader=loader, test_cfg=dict(), test_evaluator=[ToyMetric()],
                  default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
                  default_scope='detkit')


@pytest.mark.parametrize('main', [True, False])
def test_only_rank_0_dumps_the_test_results(tmp_path, monkeypatch, main):
    monkeypatch.setattr(logger_hook, 'is_main_process', lambda: main)
    runner = _test_runner(tmp_path, f'logger_hook_{main}')
    hooks = [h for h in runner.hooks if isinstance(h, MMEngineLoggerHook)]
    assert [type(h) for h in hooks] == [LoggerHook]  # 'LoggerHook' in detkit's scope
    runner.test()
    assert osp.exists(osp.join(runner.log_dir, f'{runner.timestamp}.json')) == main
