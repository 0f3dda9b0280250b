"""Compare a loaded checkpoint's weights with the model before they are copied."""
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from detkit.registry import HOOKS
from ..checkpoint import state_dict_mismatch


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not fit the model."""


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Report missing / unexpected keys and shape mismatches of a checkpoint.

    Runs on ``load_from``, ``--resume`` and ``tools/test.py`` (mmengine calls
    ``after_load_checkpoint`` before copying the weights). Lists the first
    few names of each kind with their counts.

    Args:
        strict: raise :class:`CheckpointMismatchError` (resuming, testing:
            a partly loaded model would give meaningless numbers) instead of
            logging a warning (fine-tuning from a checkpoint with another
            head). ``tools/train.py --resume`` and ``tools/test.py`` set it.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        report = state_dict_mismatch(model.state_dict(), state)
        if report is None:
            return
        msg = f'The checkpoint does not match the model: {report}.'
        if self.strict:
            raise CheckpointMismatchError(
                f'{msg} It was saved for a different model or config; check that the '
                'config given with it is the one it was trained with.')
        print_log(f'{msg} The matching weights are loaded, the others keep their '
                  'initial values.', logger='current', level=logging.WARNING)
