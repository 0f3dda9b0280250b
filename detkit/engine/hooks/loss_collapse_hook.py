"""Warn when the classification loss climbs back to where it started (classifier collapse).

A focal-loss classifier that starts from the prior (every score 0.01) has a
``loss_cls`` of about 1.1 per positive. When training works it falls and
stays down; when the classifier collapses to "background everywhere" it
climbs back to that initial level, while the total loss may look unremarkable.
"""
import logging
from typing import Any, Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log

from detkit.registry import HOOKS

HINT = ('Hints: lower the learning rate or lengthen the warm-up (param_scheduler), clip '
        'gradients (optim_wrapper.clip_grad=dict(max_norm=35, norm_type=2)); training from '
        'scratch with SGD, try model.backbone.zero_init_residual=False (docs/training.md, '
        '"Training from scratch").')


class LossCollapseDetector:
    """Finds the points where a loss series returns to its initial level after having fallen.

    The initial level is the mean of the first ``window`` values; the series
    is followed as a trailing mean of ``window`` values. It *has fallen* once
    that mean is below ``(1 - drop) * initial``, and *collapses* when it then
    climbs back to ``(1 - tolerance) * initial`` or above. After a collapse
    the detector re-arms: another fall and climb is another collapse.

    Args:
        window: values averaged, both for the initial level and the trailing
            mean (1 for series that are already averaged, such as logs).
        drop: relative fall that counts as learning.
        tolerance: how close to the initial level counts as back.
    """

    def __init__(self, window: int = 50, drop: float = 0.2, tolerance: float = 0.05) -> None:
        if window < 1:
            raise ValueError(f'window must be >= 1, got {window}')
        if not 0 <= tolerance < drop < 1:
            raise ValueError(f'need 0 <= tolerance < drop < 1, got tolerance={tolerance}, '
                             f'drop={drop}')
        self.window, self.drop, self.tolerance = window, drop, tolerance
        self.initial: Optional[float] = None
        self.lowest = float('inf')
        self.fallen = False
        self._recent: List[float] = []

    def update(self, value: float) -> Optional[Dict[str, float]]:
        """Add one value; a collapse returns ``dict(value, initial, lowest)``, else ``None``."""
        self._recent = (self._recent + [value])[-self.window:]
        if len(self._recent) < self.window:
            return None
        mean = sum(self._recent) / self.window
        if self.initial is None:
            self.initial = mean
            return None
        self.lowest = min(self.lowest, mean)
        if not self.fallen:
            self.fallen = mean < (1 - self.drop) * self.initial
            return None
        if mean < (1 - self.tolerance) * self.initial:
            return None
        event = dict(value=mean, initial=self.initial, lowest=self.lowest)
        self.fallen, self.lowest = False, mean
        return event


@HOOKS.register_module()
class LossCollapseHook(Hook):
    """Logs one warning line each time ``key`` climbs back to its initial level.

    The line names the iteration, the trailing mean, the initial and lowest
    levels, and what to try. ``collapses`` keeps ``(iteration, value)`` of
    each warning. A model whose losses have no ``key`` is a configuration
    error (set ``key``, or ``default_hooks.loss_collapse=None``). A resumed
    run measures its initial level again from its own first ``window``
    iterations.

    Args:
        key: the logged loss term to watch.
        window, drop, tolerance: as :class:`LossCollapseDetector`.
    """

    priority = 'LOW'

    def __init__(self, key: str = 'loss_cls', window: int = 50, drop: float = 0.2,
                 tolerance: float = 0.05) -> None:
        self.key = key
        self.detector = LossCollapseDetector(window, drop, tolerance)
        self.collapses: List[tuple] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        if not outputs:
            return
        if self.key not in outputs:
            raise KeyError(f'LossCollapseHook watches {self.key!r}, but the model logs only '
                           f'{sorted(outputs)}: set default_hooks.loss_collapse.key to one of '
                           f'them, or default_hooks.loss_collapse=None to switch it off.')
        value = outputs[self.key]
        event = self.detector.update(float(value.detach() if hasattr(value, 'detach') else value))
        if event is None:
            return
        iteration = runner.iter + 1
        self.collapses.append((iteration, event['value']))
        print_log(f'Training health: {self.key} is back at its initial level at iteration '
                  f'{iteration}: {event["value"]:.4f} (mean of the last '
                  f'{self.detector.window}; initial {event["initial"]:.4f}, lowest '
                  f'{event["lowest"]:.4f}) - the classifier is collapsing to background. '
                  f'{HINT}', logger='current', level=logging.WARNING)
