"""mmengine's epoch-based training loop, with each iteration replayed from a CUDA graph."""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.hooks import LoggerHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from detkit.registry import LOOPS
from .graph_train_step import GraphTrainStep


@LOOPS.register_module()
class CudaGraphEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` whose iterations run through a :class:`GraphTrainStep`.

    Hooks run as usual, but the losses reach them (and the log) only on the
    iterations the ``LoggerHook`` logs, as means over the iterations since
    the previous log: reading them every iteration would make the host wait
    for the GPU. A non-finite loss is therefore caught at the next log.

    Where a graph cannot be used — no CUDA device, a distributed (DDP)
    model, a detector without ``loss_from_gts`` — the loop says so in one
    line and trains eagerly, as ``EpochBasedTrainLoop``.

    Args:
        runner, dataloader, max_epochs, val_begin, val_interval,
        dynamic_intervals: as ``EpochBasedTrainLoop``.
        canvas: ``(H, W)`` inputs are padded to (either orientation).
        max_gts: gt slots per image; more are left out of the loss, with a warning.
        max_ignored: ignore-region slots per image.
        warmup_iters: eager iterations before capture.
        capture_update: record the optimizer step in the graph as well
            (fused SGD/Adam/AdamW; others step eagerly after each replay).
    """

    def __init__(self, runner, dataloader: Union[Dict, object], max_epochs: int,
                 canvas: Sequence[int], val_begin: int = 1, val_interval: int = 1,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None,
                 max_gts: int = 100, max_ignored: int = 16, warmup_iters: int = 3,
                 capture_update: bool = True) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval,
                         dynamic_intervals)
        if len(canvas) != 2 or any(int(c) % 32 for c in canvas):
            raise ValueError(f'cuda_graph canvas must be (H, W), multiples of 32, got {canvas}')
        self.graph_args = dict(canvas=tuple(int(c) for c in canvas), max_gts=max_gts,
                               max_ignored=max_ignored, warmup_iters=warmup_iters,
                               capture_update=capture_update)
        self._step: Optional[GraphTrainStep] = None
        self._eager = False

    def _graph_step(self) -> Optional[GraphTrainStep]:
        """The step, built on first use; None (and one line saying why) for eager training."""
        if self._step is not None or self._eager:
            return self._step
        model = self.runner.model
        reason = None
        if is_model_wrapper(model):
            reason = 'distributed (DDP) training is not supported yet'
        elif not next(model.parameters()).is_cuda:
            reason = 'the model is not on a CUDA device'
        elif not hasattr(model, 'loss_from_gts'):
            reason = f'{type(model).__name__} has no loss_from_gts(inputs, gts)'
        if reason:
            print_log(f'cuda_graph: {reason}; training eagerly.', logger='current',
                      level=logging.WARNING)
            self._eager = True
            return None
        self._step = GraphTrainStep(model, self.runner.optim_wrapper, **self.graph_args)
        return self._step

    def _log_interval(self) -> int:
        intervals = [hook.interval for hook in self.runner.hooks if isinstance(hook, LoggerHook)]
        return intervals[0] if intervals else 50

    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        step = self._graph_step()
        if step is None:
            super().run_iter(idx, data_batch)
            return
        self.runner.call_hook('before_train_iter', batch_idx=idx, data_batch=data_batch)
        step(data_batch)
        logged = ((self.runner.iter + 1) % self._log_interval() == 0
                  or idx + 1 == len(self.dataloader))
        outputs = step.read_losses() if logged else None
        self.runner.call_hook('after_train_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        self._iter += 1

