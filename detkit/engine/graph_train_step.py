"""A training iteration on static buffers, captured once as a CUDA graph and replayed.

Eager PyTorch launches every kernel of a step from Python; for a detector at
small batch sizes the GPU then waits on the host. A CUDA graph records the
kernels of one step once and relaunches them all with one call. That needs
the step to have the same shapes every time and no host synchronisation:

* inputs are padded to a fixed canvas, one per orientation (a landscape
  canvas and its transpose, so aspect-ratio-grouped batches do not pay for a
  square);
* gts are padded to ``max_gts`` slots (:class:`~detkit.structures.GtBatch`);
  gts beyond that are left out of the loss, counted and reported;
* the loss path is sync-free (``tests/models/dense_heads/test_sync_free.py``);
* losses are summed on the device inside the graph and read on the host only
  when they are logged (:meth:`GraphTrainStep.read_losses`).

Captured: backbone, neck, head, losses, backward (the scaled backward under
fp16 AMP), gradient clipping (a foreach norm, no sync) and, for fused SGD,
Adam and AdamW, the optimizer step with the loss scaler's update, its
learning rates fed from device tensors that the schedulers' values are copied
into before each replay (:mod:`detkit.engine.graph_update`). Another
optimizer (or ``capture_update=False``) steps eagerly after each replay.
"""
import contextlib
import logging
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import Tensor, nn

from detkit.structures import GtBatch
from .graph_update import EagerReplay, GraphLRs, update_capture_blocker


class GraphTrainStep:
    """One training iteration of a detector on static buffers.

    Args:
        model: the detector (not wrapped in DDP), with a ``data_preprocessor``
            and ``loss_from_gts(inputs, gts)``.
        optim_wrapper: mmengine ``OptimWrapper`` or ``AmpOptimWrapper``
            (gradient accumulation is not supported).
        canvas: ``(H, W)`` every batch is padded to (or ``(W, H)`` for a
            batch taller than wide).
        max_gts: gt slots per image.
        max_ignored: ignore-region slots per image.
        warmup_iters: eager iterations before capture (at least 1: they
            create the gradient tensors; CUDA needs a few to settle its
            allocator and library handles).
        capture: record a CUDA graph; False runs the same static step
            eagerly, the post-warm-up iterations as a graph would replay them
            (the CPU, and tests of the step itself).
        capture_update: record the optimizer step in the graph too, where
            the optimizer allows it (else it says why, once, and steps
            eagerly after each replay).
    """

    def __init__(self, model: nn.Module, optim_wrapper: OptimWrapper,
                 canvas: Tuple[int, int], max_gts: int = 100, max_ignored: int = 16,
                 warmup_iters: int = 3, capture: bool = True,
                 capture_update: bool = True) -> None:
        if getattr(optim_wrapper, '_accumulative_counts', 1) != 1:
            raise ValueError('cuda_graph: gradient accumulation (accumulative_counts > 1) '
                             'is not supported')
        clip = dict(getattr(optim_wrapper, 'clip_grad_kwargs', None) or {})
        if clip.pop('type', 'norm') != 'norm':
            raise ValueError('cuda_graph: only clip_grad=dict(type="norm", max_norm=...) is '
                             'supported')
        if warmup_iters < 1:
            raise ValueError(f'cuda_graph: warmup_iters must be >= 1, got {warmup_iters}')
        self.clip = clip
        self.model = model
        self.optim_wrapper = optim_wrapper
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.max_gts = max_gts
        self.max_ignored = max_ignored
        self.warmup_iters = warmup_iters
        self.capture = capture
        self.capture_update = capture_update
        self._lrs: Optional[GraphLRs] = None
        self.iters = 0
        self.dropped_gts = 0
        self.images = 0
        self.oversize_batches = 0
        self.batch_size: Optional[int] = None
        # keyed by (canvas, batch size)
        self._static: Dict[Tuple[Tuple[int, int], int], dict] = {}
        self._warm = set()  # keys run eagerly at least once: a new shape's lazy set-up
        # (cuDNN's algorithm search, library handles) must not happen in a capture
        self._graphs: Dict[Tuple[Tuple[int, int], int],
                           Union[torch.cuda.CUDAGraph, EagerReplay]] = {}
        self._sums: Optional[Dict[str, Tensor]] = None
        self._summed_iters = 0

    # ---------------------------------------------------------------- the step
    def canvas_for(self, size: Sequence[int]) -> Optional[Tuple[int, int]]:
        """The canvas (or its transpose) that an ``(H, W)`` batch fits, else None."""
        height, width = int(size[0]), int(size[1])
        for canvas in (self.canvas, self.canvas[::-1]):
            if height <= canvas[0] and width <= canvas[1]:
                return canvas
        return None

    def prepare(self, data: dict) -> dict:
        """Run the data preprocessor; the batch in fixed shapes (not yet in the buffers).

        A batch larger than the canvas keeps its size (``canvas`` None).
        """
        data = self.model.data_preprocessor(data, True)
        inputs, samples = data['inputs'], data['data_samples']
        canvas = self.canvas_for(inputs.shape[-2:])
        if canvas is not None:
            inputs = F.pad(inputs, (0, canvas[1] - inputs.shape[-1],
                                    0, canvas[0] - inputs.shape[-2]),
                           value=getattr(self.model.data_preprocessor, 'pad_value', 0))
        ignored = [s.ignored_instances if 'ignored_instances' in s else None for s in samples]
        gts = GtBatch.from_instances([s.gt_instances for s in samples],
                                     [s.metainfo for s in samples], ignored,
                                     device=inputs.device, capacity=self.max_gts,
                                     ignore_capacity=self.max_ignored)
        if gts.ignore_bboxes is None:
            gts.ignore_bboxes = inputs.new_zeros(len(samples), self.max_ignored, 4)
            gts.ignore_valid = torch.zeros(len(samples), self.max_ignored, dtype=torch.bool,
                                           device=inputs.device)
        return dict(canvas=canvas, inputs=inputs, gts=gts)

    def __call__(self, data: dict) -> None:
        """Train on one batch from the dataloader; losses accumulate for :meth:`read_losses`.

        Batches of the first batch's size are replayed from a graph (one per
        canvas, recorded after the warm-up and after one eager iteration on
        that canvas); a smaller one (the end of an epoch), or one larger than the
        canvas (said, with counts), runs the same step eagerly: it writes into
        the same gradient tensors, so nothing breaks.
        """
        batch = self.prepare(data)
        self._note_dropped(batch['gts'])
        key = (batch['canvas'], batch['gts'].num_imgs)
        if self.batch_size is None:
            self.batch_size = key[1]
        if key[0] is None:
            self._note_oversize(tuple(batch['inputs'].shape[-2:]))
            static = batch
        else:
            static = self._buffers(key, batch)
        if self._graphs and self._lrs is not None and self._lrs.stale():
            print_log('cuda_graph: an optimizer setting other than the lr changed; recording '
                      'the step again', logger='current')
            self._graphs.clear()
        graph = self._graphs.get(key)
        if (graph is None and key in self._warm and key[1] == self.batch_size
                and self.iters >= self.warmup_iters):
            graph = self._graphs[key] = self._record(static)
        if graph is not None:
            if self._lrs is not None:
                self._lrs.load()
            graph.replay()
            if self._lrs is None:
                self._update()
        else:
            with self._warmup_stream():
                self._forward_backward(static)
                self._update()
            if key[0] is not None:
                self._warm.add(key)
        self.iters += 1
        self._summed_iters += 1
        # mmengine's parameter schedulers count OptimWrapper.step() calls (to warn
        # when they step first); this step drives the torch optimizer itself.
        if hasattr(self.optim_wrapper, '_global_step'):
            self.optim_wrapper._global_step += 1

    @contextlib.contextmanager
    def _warmup_stream(self) -> Iterator[None]:
        """Eager CUDA iterations before a capture run on a side stream, as torch advises."""
        if not (self.capture and torch.cuda.is_available()):
            yield
            return
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            yield
        torch.cuda.current_stream().wait_stream(stream)

    def _buffers(self, key: Tuple[Tuple[int, int], int], batch: dict) -> dict:
        """The static tensors of this canvas and batch size, now holding ``batch``."""
        static = self._static.get(key)
        gts: GtBatch = batch['gts']
        if static is None:
            static = dict(inputs=batch['inputs'].clone(),
                          gts=GtBatch(**{k: v.clone() if isinstance(v, Tensor) else v
                                         for k, v in vars(gts).items()}))
            self._static[key] = static
            return static
        static['inputs'].copy_(batch['inputs'], non_blocking=True)
        for name, value in vars(gts).items():
            if isinstance(value, Tensor):
                getattr(static['gts'], name).copy_(value, non_blocking=True)
        return static

    def _forward_backward(self, static: dict) -> None:
        """Zeroed gradients, forward, losses, backward, on-device loss sums: what a graph records.

        The gradients are zeroed in place (not set to None), so every graph and
        every eager iteration writes into the same ``.grad`` tensors, which the
        optimizer then reads.
        """
        wrapper = self.optim_wrapper
        wrapper.optimizer.zero_grad(set_to_none=False)
        with wrapper.optim_context(self.model):
            losses = self.model.loss_from_gts(static['inputs'], static['gts'])
        loss, log_vars = self.model.parse_losses(losses)
        if isinstance(wrapper, AmpOptimWrapper):
            wrapper.loss_scaler.scale(loss).backward()
        else:
            loss.backward()
        if self._sums is None:
            self._sums = {k: torch.zeros_like(v.detach()) for k, v in log_vars.items()}
        for name, value in log_vars.items():
            self._sums[name].add_(value.detach())

    def _record(self, static: dict) -> Union[torch.cuda.CUDAGraph, EagerReplay]:
        """The iteration on ``static`` as a CUDA graph (or, without capture, its eager twin)."""
        if self.capture_update and self._lrs is None:
            blocker = update_capture_blocker(self.optim_wrapper.optimizer)
            if blocker:
                print_log(f'cuda_graph: the optimizer steps outside the graph: {blocker}',
                          logger='current')
                self.capture_update = False
            else:
                self._lrs = GraphLRs(self.optim_wrapper.optimizer, static['inputs'].device)
        lrs = self._lrs

        def iteration() -> None:
            self._forward_backward(static)
            if lrs is not None:
                self._update()

        if lrs is not None:
            lrs.note()
        if not self.capture:
            return EagerReplay(iteration, lrs)
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        with lrs.swapped() if lrs is not None else contextlib.nullcontext():
            try:
                # thread_local: the DataLoader's pin-memory thread may allocate pinned
                # memory meanwhile; in the default global mode that breaks the capture.
                with torch.cuda.graph(graph, capture_error_mode='thread_local'):
                    iteration()
            except RuntimeError as error:
                if lrs is None:
                    raise
                raise RuntimeError(f'cuda_graph: recording the optimizer step failed ({error}); '
                                   f'set train_cfg.cuda_graph.capture_update=False to step '
                                   f'it eagerly') from error
        return graph

    def _update(self) -> None:
        """Clip the gradients (a norm on the device, no sync) and step the optimizer."""
        wrapper = self.optim_wrapper
        amp = isinstance(wrapper, AmpOptimWrapper)
        if self.clip:
            if amp:
                wrapper.loss_scaler.unscale_(wrapper.optimizer)
            params = [p for group in wrapper.optimizer.param_groups for p in group['params']
                      if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, foreach=True, **self.clip)
        if amp:
            wrapper.loss_scaler.step(wrapper.optimizer)
            wrapper.loss_scaler.update()
        else:
            wrapper.optimizer.step()

    # ----------------------------------------------------------------- logging
    def read_losses(self) -> Dict[str, float]:
        """Mean of every logged loss since the last call (one host sync), then reset."""
        if not self._sums or not self._summed_iters:
            return {}
        means = {k: float(v) / self._summed_iters for k, v in self._sums.items()}
        for value in self._sums.values():
            value.zero_()
        self._summed_iters = 0
        return means

    def _note_dropped(self, gts: GtBatch) -> None:
        self.images += gts.num_imgs
        if gts.num_dropped:
            self.dropped_gts += gts.num_dropped
            print_log(f'cuda_graph: {gts.num_dropped} gts beyond max_gts={self.max_gts} per '
                      f'image left out of this batch\'s loss ({self.dropped_gts} in '
                      f'{self.images} images so far); raise cuda_graph.max_gts to keep them',
                      logger='current', level=logging.WARNING)

    def _note_oversize(self, size: Tuple[int, int]) -> None:
        self.oversize_batches += 1
        if str(self.oversize_batches).strip('0') == '1':  # the 1st, 10th, 100th ...
            print_log(f'cuda_graph: a batch of {size} does not fit the canvas {self.canvas} '
                      f'(either orientation): trained eagerly ({self.oversize_batches} of '
                      f'{self.iters + 1} batches so far); raise cuda_graph.canvas',
                      logger='current', level=logging.WARNING)

