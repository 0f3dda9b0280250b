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
"""
import importlib
import importlib.metadata
import inspect
import re
from typing import Callable, Dict, Mapping, Optional, Tuple

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


def check_versions(installed: Optional[Mapping[str, str]] = None,
                   get_version: Callable[[str], str] = installed_version) -> None:
    """Refuse packages older than :data:`MIN_VERSIONS`.

    Args:
        installed: package name -> version string to check instead of
            asking ``get_version`` (for tests; missing names are asked).
        get_version: how to find a package's installed version.

    Raises:
        UnsupportedVersionError: one or more packages are too old; the
            message names each with its installed and its required version.
    """
    installed = dict(installed or {})
    too_old = []
    for package, minimum in MIN_VERSIONS.items():
        version = installed.get(package) or get_version(package)
        if version_tuple(version) < version_tuple(minimum):
            too_old.append((package, version, minimum))
    if not too_old:
        return
    found = '; '.join(f'{name} {version} is installed, detkit needs {name}>={minimum}'
                      for name, version, minimum in too_old)
    upgrade = ' '.join(f'"{name}>={minimum}"' for name, _, minimum in too_old)
    raise UnsupportedVersionError(
        f'{found}. Upgrade with: pip install {upgrade} (torch and torchvision must be a '
        'matching pair, see docs/compat.md for the versions that were tested).')


def accepts_keyword(function: Callable, name: str) -> bool:
    """Whether ``function`` has a parameter called ``name``."""
    return name in inspect.signature(function).parameters


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
