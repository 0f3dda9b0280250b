"""mmengine's ``LoggerHook`` with the test-epoch JSON written by one rank only."""
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook as MMEngineLoggerHook

from detkit.registry import HOOKS


@HOOKS.register_module()
class LoggerHook(MMEngineLoggerHook):
    """``LoggerHook`` (same name, same arguments) whose test results are dumped by rank 0.

    mmengine 0.10's hook writes ``<log_dir>/<timestamp>.json`` after a test
    epoch on *every* rank, to the same path. Two ranks writing at once can
    leave a file that is not JSON: a two-rank ``tools/dist_test.sh`` run left
    one shorter write over a longer one, ending in a stray ``}``. Here the
    other ranks skip that epoch's log line and dump; rank 0's are unchanged.
    Registered in detkit's scope, so ``dict(type='LoggerHook')`` builds it.
    """

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if is_main_process():
            super().after_test_epoch(runner, metrics)
