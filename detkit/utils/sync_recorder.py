"""Find the operations that would make a CUDA step wait for the GPU, on any device.

A training step is fast on a GPU only when the host never waits for the
device: every ``.item()``, ``nonzero``, boolean-mask index or ``unique``
copies a result to the host (its size or value decides what runs next) and
stalls the launch queue, and none of them can be captured in a CUDA graph.
:class:`SyncRecorder` watches the ATen calls made under it and records those
operations with where they were called from, so a CPU-only test can prove a
code path free of them.
"""
import traceback
from collections import Counter
from typing import Any, List, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: ops whose result size or value must reach the host on CUDA
SYNCING_OPS = frozenset({
    '_local_scalar_dense', 'nonzero', 'nonzero_static_or_sync', 'masked_select',
    'masked_scatter', 'unique', '_unique', '_unique2', 'unique_dim', 'unique_consecutive',
    'unique_dim_consecutive', 'is_nonzero', 'equal', 'bincount', 'histc',
})
_INDEXING_OPS = frozenset({'index', 'index_put', 'index_put_', '_index_put_impl_'})


def _is_bool_index(indices: Any) -> bool:
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8)
               for i in indices or ())


class SyncRecorder(TorchDispatchMode):
    """Records host-synchronising ATen ops run under ``with SyncRecorder() as rec:``.

    Caught: :data:`SYNCING_OPS` (``.item()`` shows as ``_local_scalar_dense``),
    indexing with a boolean mask, and ``repeat_interleave`` without
    ``output_size``.

    Attributes:
        events: ``(op name, caller)`` per recorded call; the caller is the
            innermost frame outside torch, ``file:line (function)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.events: List[Tuple[str, str]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        syncs = (name in SYNCING_OPS
                 or (name in _INDEXING_OPS and len(args) > 1 and _is_bool_index(args[1]))
                 or (name == 'repeat_interleave' and func._overloadname != 'self_int'
                     and kwargs.get('output_size') is None))
        if syncs:
            self.events.append((name, _caller()))
        return func(*args, **kwargs)

    def summary(self) -> str:
        """One line per distinct ``op @ caller`` with its count, or ``'none'``."""
        counts = Counter(f'{op} @ {where}' for op, where in self.events)
        return '\n'.join(f'{n} × {what}' for what, n in counts.most_common()) or 'none'


def _caller() -> str:
    torch_dir = torch.__file__.rsplit('/', 1)[0]
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.startswith(torch_dir) and frame.filename != __file__:
            return f'{frame.filename}:{frame.lineno} ({frame.name})'
    return '<torch>'
