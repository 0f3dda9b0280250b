"""LossCollapseHook: one warning when loss_cls climbs back to its initial level."""
import logging

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from detkit.engine.hooks import LossCollapseDetector, LossCollapseHook
from detkit.registry import HOOKS

# the shape: starts at 1.13, falls to 0.74, climbs back to 1.12, falls, climbs again
COLLAPSING = [1.13] * 100 + [0.74] * 200 + [1.12] * 100 + [0.8] * 100 + [1.11] * 100
HEALTHY = [1.13] * 100 + [0.74] * 200 + [0.9] * 100 + [0.5] * 200


def events(series, **kwargs):
    detector = LossCollapseDetector(**kwargs)
    return [(i, e) for i, v in enumerate(series) if (e := detector.update(v)) is not None]


def test_detector_finds_each_collapse_once():
    found = events(COLLAPSING, window=50)
    # the trailing mean of 50 reaches 0.95 * 1.13 = 1.0735 with 44 values of 1.12 (and 6 of
    # 0.74), then with 45 of 1.11 (and 5 of 0.8)
    assert [i for i, _ in found] == [343, 544]
    first = found[0][1]
    assert first['initial'] == pytest.approx(1.13)
    assert first['lowest'] == pytest.approx(0.74)
    assert first['value'] >= 0.95 * 1.13


def test_detector_is_quiet_when_the_loss_stays_down_or_never_fell():
    assert events(HEALTHY, window=50) == []
    assert events([1.13] * 300 + [1.12] * 300, window=50) == []


def test_detector_window_one_follows_logged_means():
    assert [i for i, _ in events([1.1, 0.7, 0.6, 1.08, 0.7, 1.2], window=1)] == [3, 5]


@pytest.mark.parametrize('kwargs, match', [(dict(window=0), 'window must be >= 1'),
                                           (dict(drop=0.05, tolerance=0.05), 'tolerance < drop')])
def test_detector_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LossCollapseDetector(**kwargs)


class FakeRunner:
    iter = 0


def feed(hook, series, key='loss_cls'):
    runner = FakeRunner()
    for i, value in enumerate(series):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs={key: torch.tensor(value),
                                                  'loss': torch.tensor(2.0)})


def test_hook_warns_one_line_with_iteration_value_and_hints(monkeypatch):
    lines = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'log', lambda level, msg, *a, **k: lines.append((level, msg)))
    monkeypatch.setattr(logger, 'warning', lambda msg, *a, **k: lines.append((logging.WARNING,
                                                                               msg)))
    hook = LossCollapseHook(window=50)
    feed(hook, COLLAPSING)
    assert [i for i, _ in hook.collapses] == [344, 545]  # 1-based iterations
    warnings = [msg for level, msg in lines if level == logging.WARNING]
    assert len(warnings) == 2
    first = warnings[0]
    assert '\n' not in first
    assert 'loss_cls is back at its initial level at iteration 344' in first
    assert 'initial 1.1300' in first and 'lowest 0.7400' in first
    assert 'zero_init_residual=False' in first and 'clip_grad' in first


def test_hook_names_the_logged_keys_when_its_key_is_missing():
    with pytest.raises(KeyError, match=r"watches 'loss_cls'.*\['loss', 'loss_obj'\].*"
                                       r"loss_collapse=None"):
        feed(LossCollapseHook(), [1.0], key='loss_obj')


def test_default_runtime_enables_it():
    cfg = Config.fromfile('configs/_base_/default_runtime.py')
    hook = HOOKS.build(cfg.default_hooks.loss_collapse)
    assert isinstance(hook, LossCollapseHook) and hook.key == 'loss_cls'
