"""Progress of a byte transfer: a one-line bar on a terminal, log lines elsewhere."""
import sys
import time
from typing import Optional

from mmengine.logging import print_log


def format_bytes(num_bytes: float) -> str:
    """``1536`` → ``'1.5 KiB'``; bytes below 1 KiB as whole numbers."""
    if num_bytes < 1024:
        return f'{int(num_bytes)} B'
    for unit in ('KiB', 'MiB', 'GiB'):
        num_bytes /= 1024
        if num_bytes < 1024 or unit == 'GiB':
            break
    return f'{num_bytes:.1f} {unit}'


class TransferProgress:
    """Shows ``name: 43.7% 1.0 MiB / 2.3 MiB, 5.1 MiB/s`` while bytes arrive.

    On a terminal (stderr is a TTY) the line is redrawn at most 5 times a
    second and left complete by :meth:`close`; in a log file a line is logged
    every 30 s, so that a long download in a batch job shows it is alive.

    Args:
        name: what is transferred (a file name).
        done: bytes already there (a resumed download starts past zero).
        total: the size of the whole file, if known.
        enabled: False shows nothing.
    """

    def __init__(self, name: str, done: int, total: Optional[int], enabled: bool = True) -> None:
        self.name, self.done, self.total, self.enabled = name, done, total, enabled
        self.start_done, self.start = done, time.monotonic()
        self.tty = enabled and sys.stderr.isatty()
        self.last = 0.0 if self.tty else self.start

    def _line(self, now: float) -> str:
        speed = (self.done - self.start_done) / max(now - self.start, 1e-6)
        shown = format_bytes(self.done) + (f' / {format_bytes(self.total)}' if self.total else '')
        percent = f'{100 * self.done / self.total:5.1f}% ' if self.total else ''
        return f'{self.name}: {percent}{shown}, {format_bytes(speed)}/s'

    def update(self, num_bytes: int) -> None:
        """Count ``num_bytes`` more; redraw or log if it is time to."""
        self.done += num_bytes
        now = time.monotonic()
        if not self.enabled or now - self.last < (0.2 if self.tty else 30.0):
            return
        self.last = now
        if self.tty:
            sys.stderr.write('\r' + self._line(now)[:120].ljust(120))
            sys.stderr.flush()
        else:
            print_log(self._line(now), logger='current')

    def close(self) -> None:
        """On a terminal: draw the final state and end the line."""
        if self.tty:
            sys.stderr.write('\r' + self._line(time.monotonic())[:120].ljust(120) + '\n')
            sys.stderr.flush()
