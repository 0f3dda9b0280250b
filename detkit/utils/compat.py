"""The torch, torchvision and mmengine versions detkit runs on, and the newer
APIs it detects instead of assuming.

``MIN_VERSIONS`` are the oldest releases that ``tools/compat_check.sh``
passed (docs/compat.md records the runs); setup.cfg states the same lower
bounds. :func:`check_versions` runs when detkit is imported, so an older
install fails at once with one message naming the installed and the required
version, not later with a ``TypeError`` from deep inside torch.

Where detkit uses an API that is newer than those floors, the choice is made
here, by looking at the signature or attribute that torch actually has:

- :func:`ddp_buffer_sync_kwargs`: DDP's ``forward_sync_buffers`` (torch 2.13)
  or the older spelling ``broadcast_buffers``.
- :func:`load_weights_only`: ``torch.load(weights_only=True)`` with an
  allow-list (``torch.serialization.safe_globals``, torch 2.5), or on older
  torch the same restriction made by an allow-list unpickler.
- :func:`grad_scaler_class`: ``torch.amp.GradScaler`` (torch 2.3), before it
  ``torch.cuda.amp.GradScaler``.
- :func:`cpu_has_native_bf16`: whether this CPU computes bf16 in hardware
  (AVX-512 BF16 or AMX), asked through torch's ``torch.cpu`` probes.
- :func:`require_keywords`, :func:`flop_counter`: features without fallback
  (ONNX export through ``torch.export``, torch 2.5; FLOP counts per module,
  torch 2.4) name the torch they need.
"""
import _compat_pickle
import codecs
import importlib
import importlib.metadata
import inspect
import pickle
import re
import types
from collections import Counter, OrderedDict
from typing import Any, Callable, Dict, Sequence, Tuple

# Oldest releases that passed tools/compat_check.sh (docs/compat.md).
MIN_VERSIONS: Dict[str, str] = {'torch': '2.1', 'torchvision': '0.16', 'mmengine': '0.10.4'}


class UnsupportedVersionError(ImportError):
    """An installed torch, torchvision or mmengine is older than detkit supports."""


def version_tuple(version: str) -> Tuple[int, ...]:
    """``'2.1.2+cu121'`` -> ``(2, 1, 2)``; pre-release and local tags are dropped.

    Raises:
        ValueError: ``version`` does not start with ``MAJOR.MINOR``.
    """
    found = re.match(r'(\d+)\.(\d+)(?:\.(\d+))?', version.strip())
    if found is None:
        raise ValueError(f'cannot read the version number {version!r}')
    return tuple(int(part) for part in found.groups(default='0'))


def installed_version(package: str) -> str:
    """The installed version of ``package``, from its metadata or ``__version__``.

    Metadata is read first because it does not import the package; a build
    from source without metadata is imported instead.
    """
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return importlib.import_module(package).__version__


def torch_reads_numpy() -> bool:
    """Whether torch can make a tensor from a numpy array.

    False when NumPy 2 is installed under a torch built against NumPy 1.x
    (torch < 2.4 from PyPI): torch then says "Numpy is not available".
    """
    import numpy
    import torch
    try:
        torch.from_numpy(numpy.zeros(1))
    except RuntimeError:
        return False
    return True


def check_versions(get_version: Callable[[str], str] = installed_version,
                   numpy_bridge: Callable[[], bool] = torch_reads_numpy) -> None:
    """Refuse packages older than :data:`MIN_VERSIONS`, and NumPy 2 under an old torch.

    Args:
        get_version: package name -> installed version string.
        numpy_bridge: whether torch and numpy work together; asked (it
            imports torch) only for torch < 2.4 with NumPy >= 2.

    Raises:
        UnsupportedVersionError: one or more packages are too old, or torch
            cannot use the installed NumPy; the message names the installed
            and the required versions.
    """
    too_old = []
    for package, minimum in MIN_VERSIONS.items():
        version = get_version(package)
        if version_tuple(version) < version_tuple(minimum):
            too_old.append((package, version, minimum))
    if too_old:
        found = '; '.join(f'{name} {version} is installed, detkit needs {name}>={minimum}'
                          for name, version, minimum in too_old)
        upgrade = ' '.join(f'"{name}>={minimum}"' for name, _, minimum in too_old)
        raise UnsupportedVersionError(
            f'{found}. Upgrade with: pip install {upgrade} (torch and torchvision must be '
            'a matching pair, see docs/compat.md for the versions that were tested).')
    torch_version, numpy_version = get_version('torch'), get_version('numpy')
    if version_tuple(torch_version) < (2, 4) and version_tuple(numpy_version) >= (2, 0) \
            and not numpy_bridge():
        raise UnsupportedVersionError(
            f'torch {torch_version} cannot use numpy {numpy_version}: it was built against '
            'NumPy 1.x ("Numpy is not available"). Install NumPy 1.x with pip install '
            '"numpy<2", or torch>=2.4.')


def accepts_keyword(function: Callable, name: str) -> bool:
    """Whether ``function`` has a parameter called ``name``."""
    return name in inspect.signature(function).parameters


def require_keywords(function: Callable, names: Sequence[str], purpose: str,
                     minimum_torch: str) -> None:
    """Refuse to go on when ``function`` lacks a keyword that ``purpose`` passes it.

    For a feature that has no fallback on older torch: the user reads which
    call and which torch it needs, not a ``TypeError`` from inside torch.

    Raises:
        UnsupportedVersionError: naming the keywords, the installed and the
            required torch.
    """
    missing = [name for name in names if not accepts_keyword(function, name)]
    if missing:
        import torch
        call = f'{function.__module__}.{function.__name__}'
        raise UnsupportedVersionError(
            f'{purpose} calls {call}({", ".join(f"{name}=..." for name in missing)}), '
            f'which torch {torch.__version__} does not have: it needs torch>={minimum_torch}.')


def ddp_buffer_sync_kwargs() -> Dict[str, bool]:
    """DDP keyword arguments that turn off the buffer broadcast in every ``forward``.

    torch >= 2.13 calls it ``forward_sync_buffers=False`` and still syncs
    buffers once when DDP is built; older torch only has
    ``broadcast_buffers=False`` (deprecated since 2.13), which skips that
    initial sync too. detkit's ranks build identical models from the same
    seed and checkpoint, so both spellings train the same; the new one is
    used where it exists to avoid torch's deprecation warning.
    """
    from torch.nn.parallel import DistributedDataParallel
    if accepts_keyword(DistributedDataParallel.__init__, 'forward_sync_buffers'):
        return {'forward_sync_buffers': False}
    return {'broadcast_buffers': False}


def cpu_has_native_bf16() -> bool:
    """Whether the CPU has bf16 instructions (AVX-512 BF16 or AMX tiles).

    Without them bf16 autocast is emulated and slower than fp32. torch's
    probes (``torch.cpu._is_avx512_bf16_supported``, ``_is_amx_tile_supported``)
    are private; a torch without them counts as "no".
    """
    import torch
    probes = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def grad_scaler_class() -> type:
    """``torch.amp.GradScaler`` (torch 2.3), before it ``torch.cuda.amp.GradScaler``."""
    import torch
    return getattr(torch.amp, 'GradScaler', None) or torch.cuda.amp.GradScaler


def flop_counter(purpose: str) -> Any:
    """A ``FlopCounterMode`` that counts per module (names ``Class.sub``) by itself.

    That is torch >= 2.4 (``mod_tracker``). Older torch counts per module
    only through hooks on modules it is given, and those hooks unpack a
    tuple argument (FPN's input) into several: no fallback.

    Raises:
        UnsupportedVersionError: on older torch, naming ``purpose`` and the
            torch it needs.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    if not hasattr(counter, 'mod_tracker'):
        raise UnsupportedVersionError(
            f'{purpose} needs FLOP counts per module, which FlopCounterMode of torch '
            f'{torch.__version__} does not keep by itself: it needs torch>=2.4.')
    return counter


def _allow_list_pickle_module(allowed: Dict[str, Any]) -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load`` whose ``find_class`` serves ``allowed`` only.

    ``torch.load`` subclasses ``pickle_module.Unpickler`` and resolves storage
    types itself; every other global of the file reaches ``find_class`` here.
    Restricting ``find_class`` is how the Python docs make unpickling safe:
    without a global, a pickle cannot call anything.
    """

    class AllowListUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            # torch.save's protocol 2 writes Python 2 names (__builtin__.getattr);
            # pickle's own find_class maps them back the same way.
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            key = f'{module}.{name}'
            if key in allowed:
                return allowed[key]
            raise pickle.UnpicklingError(f'Unsupported global: GLOBAL {key} is not on the '
                                         'allow-list of this weights-only load')

    module = types.ModuleType('detkit_allow_list_pickle')
    module.Unpickler = AllowListUnpickler
    module.load = lambda file, **kwargs: AllowListUnpickler(file, **kwargs).load()
    return module


def load_weights_only(filename: str, map_location: Any,
                      allowed: Sequence[Tuple[Any, str]]) -> Any:
    """``torch.load(filename, weights_only=True)`` that also accepts ``allowed``.

    Args:
        filename: a ``torch.save`` file.
        map_location: as for ``torch.load``.
        allowed: ``(object, "module.name")`` pairs the file may name besides
            tensors, e.g. ``(HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer')``.

    Raises:
        pickle.UnpicklingError: the file names a global that is not allowed.

    torch >= 2.5 lists extra globals with ``torch.serialization.safe_globals``.
    Older torch cannot extend ``weights_only=True``; there the file is read
    by an unpickler that resolves only torch's own weights-only globals, the
    plain types pickle needs for containers and bytes, and ``allowed``.
    """
    import torch
    if hasattr(torch.serialization, 'safe_globals'):
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(filename, map_location=map_location, weights_only=True)
    from torch._weights_only_unpickler import _get_allowed_globals
    table = dict(_get_allowed_globals())
    # What torch >= 2.5 also allows by default (torch 2.1 lacks them): every
    # dtype, devices, and the plain types that pickle uses for bytes and sets.
    table.update((f'torch.{name}', value) for name, value in vars(torch).items()
                 if isinstance(value, torch.dtype))
    table.update({'torch.device': torch.device, 'collections.OrderedDict': OrderedDict,
                  'collections.Counter': Counter, '_codecs.encode': codecs.encode,
                  'builtins.set': set, 'builtins.bytearray': bytearray,
                  'builtins.complex': complex})
    table.update((name, obj) for obj, name in allowed)
    return torch.load(filename, map_location=map_location, weights_only=False,
                      pickle_module=_allow_list_pickle_module(table))
