"""Where checkpoints come from: local paths, model zoos and URLs, cached.

A checkpoint named in ``load_from``, an ``init_cfg`` ``Pretrained``
``checkpoint``, ``tools/test.py CONFIG CHECKPOINT`` or ``--weights`` may be

- a local path (``checkpoints/x.pth``, ``~/x.pth``), never downloaded;
- ``torchvision://NAME``: the ImageNet weights of torchvision's model
  ``NAME``, as listed by torchvision's weight enums. ``resnet50`` is
  ``ResNet50_Weights.IMAGENET1K_V1`` (``resnet50-0676ba61.pth``, the
  weights MMDetection's ``torchvision://resnet50`` means);
  ``resnet50.imagenet1k_v2`` or ``resnet50.default`` pick others;
- ``open-mmlab://NAME``: a name of mmengine's OpenMMLab model table
  (mmengine's aliases ``openmmlab://`` and, for torchvision, ``modelzoo://``
  work too);
- ``https://…``, ``http://…`` or ``file://…``.

Remote files are downloaded once into :func:`cache_dir` (as
``<name>`` when the name carries its hash, torch.hub's checkpoint folder being
used too when it already holds the file; else as ``<url key>/<name>``) by
:func:`detkit.utils.download.download_file`: resumable, atomic and verified
against the SHA-256 prefix in the file name (``name-<sha256[:8+]>.pth``, the
torchvision and ``publish_model.py`` convention) or a ``#sha256=<hex>`` at the
end of the source, which wins. Every file is then read by
:func:`detkit.engine.checkpoint.load_from_local_safe` (``weights_only=True``).

Importing this module registers :func:`load_from_source` for these
schemes in mmengine's ``CheckpointLoader``, replacing mmengine's own downloaders.
"""
import difflib
import functools
import hashlib
import os
import os.path as osp
import re
from typing import Any, Callable, Dict, Optional, Tuple, Union
from urllib.parse import urlparse

import torch
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import get_deprecated_model_names, get_external_models

from detkit.utils.download import ChecksumError, download_file, file_digest, parse_checksum
from .checkpoint import CorruptCheckpointError, load_from_local_safe

URL_PREFIXES = ('http://', 'https://', 'file://')
ZOO_PREFIXES = ('torchvision://', 'modelzoo://', 'open-mmlab://', 'openmmlab://')
# a hash prefix in a file name: torchvision's and publish_model.py's convention
_NAME_HASH = re.compile(r'-([0-9a-f]{8,64})\.[^-]*$')
_SHA256_FRAGMENT = re.compile(r'#sha256=([^#]*)$')


class CheckpointSourceError(ValueError):
    """A checkpoint source names no known model or is malformed."""


def cache_dir() -> str:
    """``$DETKIT_HOME/checkpoints``; ``DETKIT_HOME`` defaults to ``~/.cache/detkit``.

    ``XDG_CACHE_HOME`` moves the default like it moves torch's cache.
    """
    home = os.environ.get('DETKIT_HOME') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.join('~', '.cache'), 'detkit')
    return osp.join(osp.expanduser(home), 'checkpoints')


@functools.lru_cache(maxsize=None)
def torchvision_model_urls() -> Dict[str, str]:
    """``{name: url}`` of every torchvision classification weight.

    Built from torchvision's weight enums: ``resnet50`` (the first weights
    published, IMAGENET1K_V1 — what torchvision 0.12 and MMDetection's
    ``torchvision://resnet50`` meant), ``resnet50.default`` (torchvision's
    current default) and ``resnet50.imagenet1k_v2`` (each enum member).
    """
    import torchvision.models as models
    urls: Dict[str, str] = {}
    for name in models.list_models(module=models):
        weights = list(models.get_model_weights(name))
        if not weights:
            continue
        urls[name] = weights[0].url
        urls[f'{name}.default'] = weights[0].__class__.DEFAULT.url
        urls.update({f'{name}.{w.name.lower()}': w.url for w in weights})
        urls.update({f'{w.__class__.__name__}.{w.name}': w.url for w in weights})
    return urls


def _zoo_url(source: str) -> str:
    """The URL a ``torchvision://`` / ``open-mmlab://`` name stands for."""
    scheme, name = source.split('://', 1)
    if scheme in ('torchvision', 'modelzoo'):  # modelzoo:// is mmengine's old alias
        table = torchvision_model_urls()
    else:
        table = get_external_models()
        name = get_deprecated_model_names().get(name, name)
    if name not in table:
        close = difflib.get_close_matches(name, table, n=3)
        hint = f'; did you mean {", ".join(f"{scheme}://{c}" for c in close)}?' if close else ''
        raise CheckpointSourceError(
            f'checkpoint {source!r}: {scheme}:// has no model named {name!r}{hint}')
    return table[name]


def split_sha256(source: str) -> Tuple[str, Optional[str]]:
    """``'https://x/m.pth#sha256=ab12…'`` → ``('https://x/m.pth', 'ab12…')``.

    Raises:
        CheckpointSourceError: the hash is not 8 or more hex digits (a typo
            must not turn the check off).
    """
    found = _SHA256_FRAGMENT.search(source)
    if found is None:
        return source, None
    try:
        _, digest = parse_checksum(f'sha256:{found.group(1)}')
    except ValueError as err:
        raise CheckpointSourceError(f'checkpoint {source!r}: {err}') from None
    return source[:found.start()], digest


def expected_sha256(url: str) -> Optional[str]:
    """The SHA-256 prefix in the URL's file name (``resnet50-0676ba61.pth``), or None."""
    found = _NAME_HASH.search(osp.basename(urlparse(url).path))
    return found.group(1) if found else None


def resolve_checkpoint(source: Union[str, os.PathLike],
                       sha256: Optional[str] = None) -> str:
    """The local file of a checkpoint source, downloaded into the cache if needed.

    Args:
        source: a path, ``torchvision://NAME``, ``open-mmlab://NAME`` or an
            ``http(s)://`` / ``file://`` URL, optionally ending in
            ``#sha256=<hex>``.
        sha256: the expected SHA-256 (or a prefix of >= 8 hex digits); wins
            over the fragment and the hash in the file name.

    Raises:
        CheckpointSourceError: an unknown zoo name.
        detkit.utils.download.DownloadError: see :func:`download_file`.
    """
    source, fragment = split_sha256(os.fspath(source))
    if source.startswith(ZOO_PREFIXES):
        source = _zoo_url(source)
    if not source.startswith(URL_PREFIXES):
        return _checked_local(osp.expanduser(source), sha256 or fragment)
    name = osp.basename(urlparse(source).path)
    if not name:
        raise CheckpointSourceError(f'checkpoint URL {source!r} names no file')
    explicit, named = sha256 or fragment, expected_sha256(source)
    if named is not None:  # the name says which file it is: one flat cache, as torch.hub's
        cached = osp.join(cache_dir(), name)
        hub_copy = osp.join(torch.hub.get_dir(), 'checkpoints', name)
        if not osp.exists(cached) and osp.isfile(hub_copy):
            cached = hub_copy
    else:  # e.g. two hosts' model_final.pth: a folder per URL keeps them apart
        url_key = hashlib.sha256(source.encode()).hexdigest()[:12]
        cached = osp.join(cache_dir(), url_key, name)
    if osp.exists(cached):
        return _checked_local(cached, explicit)
    expected = explicit or named
    try:
        return download_file(source, cached,
                             checksum=f'sha256:{expected}' if expected else None)
    except ChecksumError as err:
        if explicit is not None or named is None:
            raise
        raise ChecksumError(
            f'{err}. The expected hash is the "-{named}" in the file name (the convention of '
            'torchvision and publish_model.py); if that part of the name is not a hash, '
            'give the real one by appending #sha256=<hex> to the source') from None


def _checked_local(path: str, sha256: Optional[str]) -> str:
    """A local path; with an explicit ``sha256`` the file must have it."""
    if sha256 is None or not osp.isfile(path):
        return path
    actual = file_digest(path, 'sha256')
    if not actual.startswith(sha256.lower()):
        raise ChecksumError(f'checkpoint "{path}" has sha256 {actual}, expected {sha256}: '
                            'it is not the file the config names (a stale cached download '
                            'can be deleted; the next run fetches the file again)')
    return path


def load_from_source(filename: str,
                     map_location: Union[str, Callable, None] = None) -> Any:
    """Resolve ``filename`` (any source above) and load it with ``weights_only=True``.

    A cached download that turns out unreadable is named with its URL, so
    that the user knows deleting it makes the next run fetch it again.
    """
    path = resolve_checkpoint(filename)
    try:
        return load_from_local_safe(path, map_location=map_location)
    except CorruptCheckpointError as err:
        if path == osp.expanduser(split_sha256(os.fspath(filename))[0]):
            raise
        raise CorruptCheckpointError(f'{err} It is the cached download of {filename}: '
                                     'after deleting it, the next run downloads it '
                                     'again.') from None


CheckpointLoader.register_scheme(prefixes=URL_PREFIXES + ZOO_PREFIXES,
                                 loader=load_from_source, force=True)
