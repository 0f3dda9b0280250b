"""Where detkit keeps data it generates, and how it writes files safely."""
import os
import tempfile


def cache_root() -> str:
    """detkit's data cache: ``$DETKIT_DATA`` if set, else ``~/.cache/detkit``."""
    return os.environ.get('DETKIT_DATA') or os.path.join(os.path.expanduser('~'), '.cache',
                                                         'detkit')


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename.

    A reader never sees a half-written file, even if the writer is killed.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
