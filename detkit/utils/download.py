"""Download one file: resumable, atomic, verified, with progress and clear errors.

:func:`download_file` is what checkpoint URLs (``torchvision://``,
``https://`` …) and ``tools/misc/download_dataset.py`` use. The bytes go to
``<dst>.part``; an interrupted transfer is resumed from there with an HTTP
``Range`` request (or restarted when the server ignores it), the finished
file is checked against the expected size and checksum, and only then
renamed to ``dst``. A ``.part`` file is never used as the file, and a
``<dst>.lock`` serialises processes (distributed ranks) fetching the same
file. ``DETKIT_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) forbids downloading.
"""
import hashlib
import http.client
import os
import os.path as osp
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

from mmengine.logging import print_log

from .transfer_progress import TransferProgress, format_bytes

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent fetches are not serialised
    fcntl = None

OFFLINE_VARIABLES = ('DETKIT_OFFLINE', 'HF_HUB_OFFLINE')
_TRUE = ('1', 'true', 'yes', 'on')
_CHUNK = 1 << 20
_USER_AGENT = 'detkit-download'


class DownloadError(OSError):
    """A file could not be downloaded; the message names the URL and the destination."""


class OfflineError(DownloadError):
    """A download was needed while ``DETKIT_OFFLINE`` / ``HF_HUB_OFFLINE`` forbid it."""


class ChecksumError(DownloadError):
    """A downloaded file's size or checksum differs from the expected one."""


def offline_reason() -> Optional[str]:
    """``'DETKIT_OFFLINE=1'`` (the variable that forbids downloads), or None.

    ``DETKIT_OFFLINE`` wins over ``HF_HUB_OFFLINE``, so ``DETKIT_OFFLINE=0``
    allows detkit to download where the Hugging Face hub is kept offline.
    """
    for name in OFFLINE_VARIABLES:
        value = os.environ.get(name)
        if value is not None and value.strip() != '':
            if value.strip().lower() in _TRUE:
                return f'{name}={value}'
            return None
    return None


def parse_checksum(checksum: str) -> Tuple[str, str]:
    """``'sha256:0676ba61'`` → ``('sha256', '0676ba61')``; bare hex means sha256.

    A prefix of at least 8 hex digits is accepted (torchvision's file names
    carry the first 8 of the SHA-256).
    """
    algorithm, _, digest = checksum.rpartition(':')
    algorithm = (algorithm or 'sha256').lower()
    digest = digest.strip().lower()
    if algorithm not in hashlib.algorithms_available:
        raise ValueError(f'checksum {checksum!r}: unknown algorithm {algorithm!r}; '
                         f'use "sha256:<hex>" or "md5:<hex>"')
    if len(digest) < 8 or any(c not in '0123456789abcdef' for c in digest):
        raise ValueError(f'checksum {checksum!r}: expected at least 8 hex digits '
                         f'after "{algorithm}:"')
    return algorithm, digest


def file_digest(path: str, algorithm: str = 'sha256') -> str:
    """The hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _locked(dst: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``dst + '.lock'`` (the OS drops it if we die).

    The lock file is removed once ``dst`` exists: a process still waiting on
    it, or one that creates a new one, then finds ``dst`` and stops.
    """
    path = dst + '.lock'
    with open(path, 'a') as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
        if osp.exists(dst) and osp.exists(path):
            os.remove(path)


def _manual_hint(url: str, dst: str) -> str:
    return (f'The file is expected at {dst}. To place it by hand, download {url} on a '
            f'machine with internet access and copy it to that path')


def _open(url: str, offset: int, timeout: float):
    headers = {'User-Agent': _USER_AGENT}
    if offset:
        headers['Range'] = f'bytes={offset}-'
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                  timeout=timeout)


def _total_of(response, offset: int) -> Tuple[int, Optional[int]]:
    """(where this response starts, the file's total size or None)."""
    status = getattr(response, 'status', None)
    length = response.headers.get('Content-Length')
    if status == 206:
        content_range = response.headers.get('Content-Range', '')
        total = content_range.rpartition('/')[2]
        return offset, int(total) if total.isdigit() else None
    return 0, int(length) if length and length.isdigit() else None


def _transfer(url: str, part: str, size: Optional[int], timeout: float,
              progress: bool) -> None:
    """One request: append to (or restart) ``part``; raises on a short transfer."""
    offset = osp.getsize(part) if osp.exists(part) else 0
    if size is not None and offset > size:
        offset = 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and size is not None and offset == size:
            return  # the partial file is already whole
        if err.code == 416:  # the .part is longer than the file now served
            os.remove(part)
            return _transfer(url, part, size, timeout, progress)
        raise
    with response:
        start, total = _total_of(response, offset)
        if size is not None and total is not None and total != size:
            raise ChecksumError(f'{url} is {total} bytes on the server, expected {size}: '
                                'the file there is not the one detkit knows')
        bar = TransferProgress(osp.basename(part)[:-len('.part')], start, total, progress)
        with open(part, 'ab' if start else 'wb') as f:
            for block in iter(lambda: response.read(_CHUNK), b''):
                f.write(block)
                bar.update(len(block))
            f.flush()
            os.fsync(f.fileno())
        bar.close()
    received = osp.getsize(part)
    if total is not None and received < total:
        raise http.client.IncompleteRead(b'', total - received)


def _verify(url: str, part: str, size: Optional[int], checksum: Optional[str]) -> None:
    """Raise :class:`ChecksumError` (after deleting ``part``) if it is not the file."""
    actual_size = osp.getsize(part)
    problem = None
    if size is not None and actual_size != size:
        problem = f'it has {actual_size} bytes, expected {size}'
    elif checksum is not None:
        algorithm, expected = parse_checksum(checksum)
        actual = file_digest(part, algorithm)
        if not actual.startswith(expected):
            problem = f'its {algorithm} is {actual}, expected {expected}'
    if problem is not None:
        os.remove(part)
        raise ChecksumError(f'the download of {url} is not the expected file: {problem}. '
                            f'The file was deleted; if this repeats, the file at that URL '
                            f'has changed or the expected hash is wrong')


def _fetch(url: str, dst: str, size: Optional[int], timeout: float, retries: int,
           progress: bool) -> None:
    """Fill ``dst + '.part'``, resuming after broken transfers; errors name the URL."""
    part = dst + '.part'
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, size, timeout, progress)
            return
        except (http.client.IncompleteRead, ConnectionError, TimeoutError) as err:
            if attempt == retries:
                kept = osp.getsize(part) if osp.exists(part) else 0
                raise DownloadError(
                    f'the download of {url} broke off {retries + 1} times '
                    f'({type(err).__name__}); {format_bytes(kept)} are kept in {part} and the '
                    f'next run resumes from there. {_manual_hint(url, dst)}') from None
            time.sleep(0.2 * (attempt + 1))
        except urllib.error.HTTPError as err:
            raise DownloadError(f'cannot download {url}: the server answered {err.code} '
                                f'{err.reason}. {_manual_hint(url, dst)}') from None
        except urllib.error.URLError as err:
            cause = '' if url.startswith('file:') else ' (no network, or the host is down?)'
            raise DownloadError(f'cannot download {url}: {err.reason}{cause}. '
                                f'{_manual_hint(url, dst)}') from None


def download_file(url: str, dst: str, checksum: Optional[str] = None,
                  size: Optional[int] = None, timeout: float = 30.0, retries: int = 3,
                  progress: bool = True) -> str:
    """Download ``url`` (``https://``, ``http://``, ``file://``) to ``dst``, verified.

    Args:
        url: where the file is.
        dst: the final path; an existing file there is taken as done (it
            only ever appears there whole), after a size check.
        checksum: ``'sha256:<hex>'`` / ``'md5:<hex>'`` (or a prefix of at
            least 8 hex digits) the file must have.
        size: the expected number of bytes.
        timeout: seconds a connection or a read may stall.
        retries: extra attempts after a transfer that broke off; each resumes
            where the last one stopped.
        progress: show a progress bar (terminal) or periodic log lines.

    Returns:
        ``dst``.

    Raises:
        OfflineError: a download is needed but downloads are switched off.
        ChecksumError: wrong size or checksum (the bad file is deleted).
        DownloadError: the server or the network failed; the message names
            the URL, ``dst`` and how to place the file by hand.
    """
    dst = osp.abspath(osp.expanduser(dst))
    if osp.exists(dst):
        return _checked_existing(dst, size)
    reason = offline_reason()
    if reason is not None:
        raise OfflineError(f'{url} is not downloaded and downloads are switched off '
                           f'({reason}). {_manual_hint(url, dst)}')
    os.makedirs(osp.dirname(dst), exist_ok=True)
    with _locked(dst):
        if osp.exists(dst):  # another process finished it while we waited
            return _checked_existing(dst, size)
        part = dst + '.part'
        resumed = osp.exists(part)
        print_log(f'Downloading {url} to {dst}' + (' (resuming)' if resumed else ''),
                  logger='current')
        _fetch(url, dst, size, timeout, retries, progress)
        try:
            _verify(url, part, size, checksum)
        except ChecksumError:
            if not resumed:
                raise
            # a resumed file may mix two versions of the remote file: start over once
            print_log(f'The resumed download of {url} failed verification; downloading it '
                      'again from the start.', logger='current')
            _fetch(url, dst, size, timeout, retries, progress)
            _verify(url, part, size, checksum)
        os.replace(part, dst)
    print_log(f'Downloaded {dst} ({format_bytes(osp.getsize(dst))})', logger='current')
    return dst


def _checked_existing(dst: str, size: Optional[int]) -> str:
    actual = osp.getsize(dst)
    if size is not None and actual != size:
        raise ChecksumError(f'{dst} exists but has {actual} bytes, expected {size}: it is '
                            f'not the complete file. Delete it, or rename it to '
                            f'{osp.basename(dst)}.part to resume the download')
    return dst
