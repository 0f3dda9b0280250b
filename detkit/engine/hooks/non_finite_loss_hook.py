"""Stop (or report skipping) when the training loss is NaN or infinite."""
import logging
import math
from typing import Any, Dict, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log

from detkit.registry import HOOKS

HINT = ('Lower the learning rate (optim_wrapper.optimizer.lr), lengthen the warm-up '
        '(param_scheduler), or clip gradients (optim_wrapper.clip_grad=dict(max_norm=35, '
        'norm_type=2)); with optim_wrapper.type=GuardedOptimWrapper, '
        'optim_wrapper.skip_nonfinite=True skips such steps instead of stopping.')


class NonFiniteLossError(FloatingPointError):
    """Training stopped because the loss became NaN or infinite."""


def _loss_terms(outputs: Optional[Dict[str, Any]]) -> Dict[str, float]:
    terms = {}
    for name, value in (outputs or {}).items():
        try:
            terms[name] = float(value.detach() if hasattr(value, 'detach') else value)
        except (TypeError, ValueError):
            continue
    return terms


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Checks every training iteration's loss terms for NaN / inf.

    With a guarded optimizer wrapper (:class:`GuardedOptimWrapper` and its
    AMP variants) the bad step was not applied; the hook raises
    :class:`NonFiniteLossError` naming the iteration, every loss term, the
    learning rate and what to change, or, when the wrapper has
    ``skip_nonfinite=True``, logs a warning with the number of skipped steps
    and lets training go on. With any other wrapper the step was applied
    already, and the hook always stops.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        wrapper = runner.optim_wrapper
        guarded = hasattr(wrapper, 'last_loss_finite')
        terms = _loss_terms(outputs)
        nonfinite = (guarded and not wrapper.last_loss_finite) or any(
            not math.isfinite(v) for v in terms.values())
        if not nonfinite:
            return
        lrs = wrapper.get_lr().get('lr', [float('nan')])
        shown = ', '.join(f'{k}={v:.4g}' for k, v in terms.items())
        msg = (f'Non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
               f'{shown}; lr={lrs[0]:.4g}.')
        if guarded and wrapper.skip_nonfinite:
            print_log(f'{msg} The update was skipped ({wrapper.skipped_steps} skipped so far).',
                      logger='current', level=logging.WARNING)
            return
        if not guarded:
            msg += (f' The update was applied ({type(wrapper).__name__} has no non-finite '
                    'guard), so the parameters may be corrupted.')
        raise NonFiniteLossError(f'{msg} Training stopped. {HINT}')
