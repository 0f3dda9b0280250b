"""download_file against a local HTTP server and file:// URLs; nothing leaves 127.0.0.1."""
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from detkit.utils.download import (ChecksumError, DownloadError, OfflineError, download_file,
                                   offline_reason, parse_checksum)
from .file_server import serving

DATA = random.Random(0).randbytes(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture
def server():
    with serving({'/w.pth': DATA}) as files:
        yield files


@pytest.fixture(autouse=True)
def online(monkeypatch):
    for name in ('DETKIT_OFFLINE', 'HF_HUB_OFFLINE'):
        monkeypatch.delenv(name, raising=False)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_downloads_once_verified_and_leaves_nothing_else(server, tmp_path):
    dst = tmp_path / 'cache' / 'w.pth'
    assert download_file(server.url('w.pth'), str(dst), checksum=f'sha256:{SHA[:8]}',
                         size=len(DATA)) == str(dst)
    assert dst.read_bytes() == DATA
    download_file(server.url('w.pth'), str(dst), checksum=f'md5:{MD5}')
    assert server.gets('w.pth') == [None]           # the second call used the file
    assert leftovers(dst.parent) == ['w.pth']       # no .part, no .lock


def test_a_transfer_cut_short_is_resumed_with_a_range_request(server, tmp_path):
    server.cut_short['/w.pth'] = 1
    dst = tmp_path / 'w.pth'
    download_file(server.url('w.pth'), str(dst), checksum=SHA, timeout=5)
    assert dst.read_bytes() == DATA
    assert server.gets('w.pth') == [None, f'bytes={len(DATA) // 2}-']


def test_repeated_breaks_keep_the_part_file_for_the_next_run(server, tmp_path):
    server.cut_short['/w.pth'] = 2
    dst = tmp_path / 'w.pth'
    with pytest.raises(DownloadError) as err:
        download_file(server.url('w.pth'), str(dst), checksum=SHA, retries=1, timeout=5)
    message = str(err.value)
    assert server.url('w.pth') in message and 'broke off 2 times' in message
    assert f'kept in {dst}.part' in message and f'expected at {dst}' in message
    assert not dst.exists() and (tmp_path / 'w.pth.part').exists()
    download_file(server.url('w.pth'), str(dst), checksum=SHA, timeout=5)
    assert dst.read_bytes() == DATA
    assert server.gets('w.pth')[-1] == f'bytes={len(DATA) // 2 + len(DATA) // 4}-'


@pytest.mark.parametrize('served, checksum', [
    (DATA[:-1] + b'x', f'sha256:{SHA[:8]}'),        # a corrupted file
    (DATA, 'sha256:deadbeef'),                      # a wrong expected hash
])
def test_a_wrong_hash_deletes_the_file_and_names_both_hashes(server, tmp_path, served,
                                                             checksum):
    server.files['/w.pth'] = served
    dst = tmp_path / 'w.pth'
    with pytest.raises(ChecksumError) as err:
        download_file(server.url('w.pth'), str(dst), checksum=checksum)
    actual = hashlib.sha256(served).hexdigest()
    assert f'its sha256 is {actual}, expected {checksum[7:]}' in str(err.value)
    assert 'The file was deleted' in str(err.value)
    assert leftovers(tmp_path) == ['w.pth.lock']


def test_a_part_left_by_a_killed_run_is_resumed_but_never_trusted(server, tmp_path):
    dst = tmp_path / 'w.pth'
    (tmp_path / 'w.pth.part').write_bytes(b'\0' * 1000)   # not the file's first bytes
    download_file(server.url('w.pth'), str(dst), checksum=SHA)
    assert dst.read_bytes() == DATA
    assert server.gets('w.pth') == ['bytes=1000-', None]  # resumed, failed, restarted


def test_a_download_killed_midway_leaves_only_a_part_that_the_next_run_resumes(tmp_path):
    big = random.Random(1).randbytes(3 << 20)
    dst = tmp_path / 'big.pth'
    part = tmp_path / 'big.pth.part'
    with serving({'/big.pth': big}) as files:
        files.pause = 0.03                              # ~2 MiB/s: time to kill it
        code = ('import sys; from detkit.utils.download import download_file; '
                'download_file(sys.argv[1], sys.argv[2], progress=False)')
        proc = subprocess.Popen([sys.executable, '-c', code, files.url('big.pth'), str(dst)],
                                env=dict(os.environ, OMP_NUM_THREADS='1'))
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size >= 1 << 20):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kept = part.stat().st_size
        assert not dst.exists() and 0 < kept < len(big)
        files.pause = 0.0
        download_file(files.url('big.pth'), str(dst), checksum=hashlib.sha256(big).hexdigest())
    assert dst.read_bytes() == big
    assert files.gets('big.pth')[-1] == f'bytes={kept}-'


def test_a_server_without_ranges_restarts_from_zero(server, tmp_path):
    server.ranges = False
    (tmp_path / 'w.pth.part').write_bytes(DATA[:1000])
    download_file(server.url('w.pth'), str(tmp_path / 'w.pth'), size=len(DATA))
    assert (tmp_path / 'w.pth').read_bytes() == DATA


def test_size_mismatch_on_the_server_and_on_disk(server, tmp_path):
    with pytest.raises(ChecksumError, match=f'is {len(DATA)} bytes on the server, expected 5'):
        download_file(server.url('w.pth'), str(tmp_path / 'w.pth'), size=5)
    (tmp_path / 'old.zip').write_bytes(b'123')
    with pytest.raises(ChecksumError, match=r'old\.zip exists but has 3 bytes, expected 9: .*'
                                            r'rename it to old\.zip\.part to resume'):
        download_file(server.url('w.pth'), str(tmp_path / 'old.zip'), size=9)


@pytest.mark.parametrize('variable, value, forbidden', [
    ('DETKIT_OFFLINE', '1', True), ('DETKIT_OFFLINE', 'true', True),
    ('HF_HUB_OFFLINE', 'ON', True), ('DETKIT_OFFLINE', '0', False)])
def test_offline_variables(server, tmp_path, monkeypatch, variable, value, forbidden):
    monkeypatch.setenv(variable, value)
    dst = tmp_path / 'w.pth'
    if not forbidden:
        assert offline_reason() is None
        return
    with pytest.raises(OfflineError) as err:
        download_file(server.url('w.pth'), str(dst))
    assert f'downloads are switched off ({variable}={value})' in str(err.value)
    assert f'The file is expected at {dst}. To place it by hand' in str(err.value)
    assert server.requests == [] and not dst.exists()


def test_detkit_offline_0_overrides_hf_hub_offline(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('DETKIT_OFFLINE', '0')
    assert offline_reason() is None


def test_no_network_and_missing_files_name_the_url_and_the_place(server, tmp_path):
    with serving() as closed:
        url = closed.url('gone.pth')                    # its port is closed after the block
    dst = tmp_path / 'gone.pth'
    with pytest.raises(DownloadError) as err:
        download_file(url, str(dst), timeout=2)
    assert f'cannot download {url}' in str(err.value) and 'no network' in str(err.value)
    assert f'download {url} on a machine with internet access and copy it to' in str(err.value)
    with pytest.raises(DownloadError, match='the server answered 404 Not Found'):
        download_file(server.url('nope.pth'), str(tmp_path / 'nope.pth'))


def test_file_urls(tmp_path):
    (tmp_path / 'src.bin').write_bytes(DATA)
    dst = tmp_path / 'out' / 'copy.bin'
    download_file((tmp_path / 'src.bin').as_uri(), str(dst), checksum=SHA, size=len(DATA))
    assert dst.read_bytes() == DATA
    with pytest.raises(DownloadError, match='No such file'):
        download_file((tmp_path / 'missing.bin').as_uri(), str(tmp_path / 'm.bin'))


def test_concurrent_downloads_of_one_file_fetch_it_once(server, tmp_path):
    dst = str(tmp_path / 'w.pth')
    threads = [threading.Thread(target=download_file, args=(server.url('w.pth'), dst),
                                kwargs=dict(checksum=SHA)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert server.gets('w.pth') == [None]
    assert (tmp_path / 'w.pth').read_bytes() == DATA


@pytest.mark.parametrize('text, expected', [
    ('sha256:ABCDEF12', ('sha256', 'abcdef12')), ('0676ba61', ('sha256', '0676ba61')),
    ('md5:' + '0' * 32, ('md5', '0' * 32))])
def test_parse_checksum(text, expected):
    assert parse_checksum(text) == expected


@pytest.mark.parametrize('text, match', [('sha256:abc', 'at least 8 hex digits'),
                                         ('crc99:abcdef12', "unknown algorithm 'crc99'"),
                                         ('sha256:xyzxyzxy', 'at least 8 hex digits')])
def test_bad_checksums_are_named(text, match):
    with pytest.raises(ValueError, match=match):
        parse_checksum(text)
