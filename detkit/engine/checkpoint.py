"""Safe checkpoint loading and atomic checkpoint writing for mmengine.

This module is the one place where detkit changes how mmengine reads and
writes files. Importing it (``import detkit.engine`` does) installs two
things through mmengine's own extension points:

- **Loading**: the local-file scheme of ``mmengine.runner.CheckpointLoader``
  is replaced by :func:`load_from_local_safe`, so ``Runner.resume``,
  ``load_from``, ``load_checkpoint`` and ``tools/test.py`` all load with
  ``torch.load(weights_only=True)`` and an allow-list of exactly the globals
  that mmengine's checkpoints contain. Anything else is refused with
  :class:`UnsafeCheckpointError`, unless the user trusts the file explicitly
  (``--unsafe-load`` → :func:`set_unsafe_load`). A file that is empty,
  truncated or no checkpoint at all raises :class:`CorruptCheckpointError`
  naming it. URLs and model-zoo names are resolved to cached local files by
  :mod:`detkit.engine.checkpoint_sources` before they get here.
- **Writing**: the ``local`` file backend (used by ``CheckpointHook`` and
  ``Runner.save_checkpoint``) is replaced by :class:`AtomicLocalBackend`,
  which writes to a temporary file in the same directory and renames it,
  so a kill during saving never leaves a truncated checkpoint behind.

:func:`find_latest_complete_checkpoint` is what ``--resume`` without a path
uses: the newest ``*.pth`` in the work dir whose zip archive is intact.
"""
import glob
import logging
import os
import os.path as osp
import pickle
import re
import tempfile
import zipfile
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner import CheckpointLoader

from detkit.utils.compat import load_weights_only

_UNSAFE_LOAD = False
# The statistics every HistoryBuffer registers (others via register_statistics).
_HISTORY_BUFFER_METHODS = {'min', 'max', 'current', 'mean'}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint contains pickled objects outside the allow-list."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is empty, truncated, or not a PyTorch checkpoint at all."""


def set_unsafe_load(enabled: bool) -> None:
    """Load checkpoints with full pickle (``weights_only=False``).

    Only for files whose origin the user trusts: unpickling runs code.
    """
    global _UNSAFE_LOAD
    _UNSAFE_LOAD = bool(enabled)


def _history_buffer_method(owner: type, name: str) -> Callable:
    """Stands in for ``getattr`` while unpickling, for one use only.

    ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; a general ``getattr`` would let a
    crafted file reach any attribute, so only those lookups are allowed.
    """
    allowed = _HISTORY_BUFFER_METHODS | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'checkpoint asks for getattr({owner!r}, {name!r}), which is not one '
        'of the HistoryBuffer statistics methods that mmengine pickles')


def _numpy_globals() -> List[Tuple[Any, str]]:
    """numpy reconstructors under both the numpy 2 and numpy 1 names."""
    try:  # numpy 2; numpy 1.26 forwards this name too, without the attribute np._core.multiarray
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    entries = []
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    entries.append((np.ndarray, 'numpy.ndarray'))
    entries.append((np.dtype, 'numpy.dtype'))
    # numpy >= 1.25 pickles dtypes of arrays as their numpy.dtypes class.
    for dtype_cls in vars(getattr(np, 'dtypes', object)).values():
        if isinstance(dtype_cls, type) and issubclass(dtype_cls, np.dtype):
            entries.append((dtype_cls, f'numpy.dtypes.{dtype_cls.__name__}'))
    return entries


def safe_globals() -> List[Tuple[Any, str]]:
    """The globals, besides torch's defaults, that detkit checkpoints need.

    Found by listing ``torch.serialization.get_unsafe_globals_in_checkpoint``
    on checkpoints written by mmengine's Runner with detkit's hooks, SGD,
    LinearLR + MultiStepLR and a message hub holding metrics: the message
    hub's ``HistoryBuffer`` (with its statistics methods) and the numpy
    arrays, scalars and dtypes it stores.
    """
    return [
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (_history_buffer_method, 'builtins.getattr'),
    ] + _numpy_globals()


def _refusal_message(filename: str) -> str:
    allowed = {name for _, name in safe_globals()}
    # torch >= 2.5 can list them; on older torch, torch's message below names the first
    scan = getattr(torch.serialization, 'get_unsafe_globals_in_checkpoint', lambda _: [])
    try:
        found = scan(filename)
    except Exception:  # a legacy (non-zip) file cannot be scanned
        found = []
    offending = [name for name in found if name not in allowed]
    listed = ', '.join(offending[:5]) if offending else 'see below'
    return (
        f'Refusing to load checkpoint "{filename}": it contains pickled Python '
        f'objects that are not on detkit\'s allow-list ({listed}). Unpickling '
        'them could run arbitrary code, so detkit loads checkpoints with '
        'torch.load(weights_only=True). If you trust where this file came '
        'from, pass --unsafe-load to tools/train.py or tools/test.py (or call '
        'detkit.engine.set_unsafe_load(True)); otherwise re-save only its '
        'tensors, e.g. torch.save({"state_dict": model.state_dict()}, path).')


def describe_corruption(filename: str) -> Optional[str]:
    """What is wrong with a file ``torch.load`` cannot read, or None if it looks intact.

    ``torch.save`` writes a zip archive (or, in the legacy format, a pickle
    stream starting with byte 0x80); a truncated archive lacks its central
    directory, and an HTML error page saved instead of the file is neither.
    """
    size = osp.getsize(filename)
    if size == 0:
        return 'is empty (0 bytes)'
    with open(filename, 'rb') as f:
        head = f.read(16)
    if head.startswith(b'PK\x03\x04'):
        if is_complete_checkpoint(filename):
            return None
        return (f'is truncated or corrupt ({size} bytes; its zip archive is incomplete or '
                'fails its CRC check)')
    if head.startswith(b'\x80'):
        return None
    return f'is not a PyTorch checkpoint (its first bytes are {head!r})'


def _load(filename: str, map_location: Union[str, Callable, None]) -> Any:
    if _UNSAFE_LOAD:
        print_log(f'Loading "{filename}" with full pickle (--unsafe-load).',
                  logger='current')
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        return load_weights_only(filename, map_location, safe_globals())
    except pickle.UnpicklingError as err:
        if describe_corruption(filename) is not None:
            raise
        raise UnsafeCheckpointError(
            f'{_refusal_message(filename)}\n(torch said: {err})') from None


def load_from_local_safe(filename: str,
                          map_location: Union[str, Callable, None] = None) -> Any:
    """Load a local checkpoint with ``weights_only=True`` and the allow-list.

    Raises:
        FileNotFoundError: the file does not exist.
        CorruptCheckpointError: the file is empty, truncated or not a checkpoint.
        UnsafeCheckpointError: the file pickles objects outside the list.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint "{filename}" does not exist; a path is read as it is, no download '
            'is attempted (torchvision://NAME, open-mmlab://NAME and https:// or file:// '
            'URLs are downloaded and cached)')
    try:
        return _load(filename, map_location)
    except UnsafeCheckpointError:
        raise
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        problem = describe_corruption(filename)
        if problem is None:
            raise
        raise CorruptCheckpointError(
            f'checkpoint "{filename}" {problem}, so it cannot be loaded. Delete it and copy '
            'or download it again.') from err


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with ``put`` made atomic.

    The bytes go to a temporary file in the target's directory, are flushed
    to disk and the file is renamed over the target; readers only ever see
    a complete file or none.
    """

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        filepath = os.fspath(filepath)
        directory = osp.dirname(osp.abspath(filepath))
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(
            dir=directory, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_path, filepath)
        except BaseException:
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is an intact ``torch.save`` zip archive (CRCs checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            return (any(n.endswith('data.pkl') for n in names)
                    and archive.testzip() is None)
    except Exception:  # a damaged archive fails zipfile in many ways (UnicodeDecodeError …)
        return False


def _step_of(path: str) -> int:
    found = re.findall(r'(\d+)', osp.basename(path))
    return int(found[-1]) if found else -1


def find_latest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete ``epoch_*.pth`` / ``iter_*.pth`` in ``work_dir``.

    Newest by modification time, then by the step number in the name;
    truncated or otherwise unreadable files are skipped with a warning.
    ``best_*`` checkpoints are not candidates: resuming continues the run,
    it does not go back to its best epoch.
    """
    candidates = [p for p in glob.glob(osp.join(work_dir, '*.pth'))
                  if re.match(r'(epoch|iter)_\d+\.pth$', osp.basename(p))]
    candidates.sort(key=lambda p: (osp.getmtime(p), _step_of(p)), reverse=True)
    for path in candidates:
        if is_complete_checkpoint(path):
            return path
        print_log(f'Skipping incomplete checkpoint {path}.', logger='current',
                  level=logging.WARNING)
    return None


def state_dict_mismatch(model_state: Dict[str, torch.Tensor],
                        ckpt_state: Dict[str, Any],
                        max_listed: int = 5) -> Optional[str]:
    """Describe how ``ckpt_state`` differs from ``model_state``, or None.

    Lists the first ``max_listed`` missing and unexpected keys and shape
    mismatches, with their counts.
    """
    ckpt_state = {re.sub(r'^module\.', '', k): v for k, v in ckpt_state.items()}
    missing = [k for k in model_state if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state]
    shapes = [
        f'{k}: checkpoint {list(ckpt_state[k].shape)} vs model '
        f'{list(model_state[k].shape)}'
        for k in model_state
        if k in ckpt_state and hasattr(ckpt_state[k], 'shape')
        and tuple(ckpt_state[k].shape) != tuple(model_state[k].shape)]
    if not (missing or unexpected or shapes):
        return None
    parts = []
    for title, items in (('missing in the checkpoint', missing),
                         ('unexpected (not in the model)', unexpected),
                         ('shape mismatches', shapes)):
        if items:
            more = f' … and {len(items) - max_listed} more' if len(items) > max_listed else ''
            parts.append(f'{len(items)} {title}: ' + ', '.join(items[:max_listed]) + more)
    return '; '.join(parts)


CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
register_backend('local', AtomicLocalBackend, force=True, prefixes='')
