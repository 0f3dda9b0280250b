"""TransferProgress: the terminal bar and the log lines of long downloads."""
import io
import sys

import pytest

from detkit.utils import transfer_progress
from detkit.utils.transfer_progress import TransferProgress, format_bytes

MiB = 1 << 20


@pytest.fixture
def clock(monkeypatch):
    """time.monotonic() advancing 10 s per call."""
    monkeypatch.setattr(transfer_progress.time, 'monotonic', iter(range(0, 10000, 10)).__next__)


def test_terminal_bar_redraws_and_ends_complete(monkeypatch, clock):
    terminal = io.StringIO()
    terminal.isatty = lambda: True
    monkeypatch.setattr(sys, 'stderr', terminal)
    bar = TransferProgress('w.pth', done=MiB, total=4 * MiB)    # resumed at 1 MiB
    bar.update(MiB)
    bar.update(2 * MiB)
    bar.close()
    lines = [line.rstrip() for line in terminal.getvalue().split('\r') if line.strip()]
    # speeds count only this session's bytes: 1 MiB in 10 s, 3 in 20 s, 3 in 30 s
    assert lines == ['w.pth:  50.0% 2.0 MiB / 4.0 MiB, 102.4 KiB/s',
                     'w.pth: 100.0% 4.0 MiB / 4.0 MiB, 153.6 KiB/s',
                     'w.pth: 100.0% 4.0 MiB / 4.0 MiB, 102.4 KiB/s']
    assert terminal.getvalue().endswith('\n')


def test_log_lines_every_30_seconds_without_a_terminal(monkeypatch, clock):
    logged = []
    monkeypatch.setattr(transfer_progress, 'print_log', lambda line, logger: logged.append(line))
    bar = TransferProgress('coco.zip', done=0, total=None)
    for _ in range(6):                                          # one call every 10 s
        bar.update(MiB)
    bar.close()
    assert [line.split(',')[0] for line in logged] == ['coco.zip: 3.0 MiB', 'coco.zip: 6.0 MiB']


def test_disabled_shows_nothing(monkeypatch, clock):
    monkeypatch.setattr(transfer_progress, 'print_log', pytest.fail)
    bar = TransferProgress('x', done=0, total=10, enabled=False)
    bar.update(10_000_000)
    bar.close()


@pytest.mark.parametrize('num_bytes, text', [(5, '5 B'), (1536, '1.5 KiB'),
                                             (815585330, '777.8 MiB'),
                                             (19336861798, '18.0 GiB')])
def test_format_bytes(num_bytes, text):
    assert format_bytes(num_bytes) == text
