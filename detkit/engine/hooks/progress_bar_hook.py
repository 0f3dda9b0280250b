"""A progress bar over the test set (tools/test.py)."""
import sys
from typing import Any, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar

from detkit.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show a progress bar of the test batches on rank 0 (on stderr)."""

    priority = 'LOW'

    def __init__(self) -> None:
        self._bar: Optional[ProgressBar] = None

    def before_test_epoch(self, runner) -> None:
        if is_main_process():
            self._bar = ProgressBar(len(runner.test_dataloader), file=sys.stderr)

    def after_test_iter(self, runner, batch_idx: int, data_batch: Any = None,
                        outputs: Optional[Sequence] = None) -> None:
        if self._bar is not None:
            self._bar.update()

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        if self._bar is not None:
            sys.stderr.write('\n')
            self._bar = None
