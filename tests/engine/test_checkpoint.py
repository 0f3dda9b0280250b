"""Unreadable checkpoint files: one message naming the file, in the API and in the tools."""
import importlib.util

import pytest
import torch

from detkit.engine.checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                                      describe_corruption, load_from_local_safe)
from tools.runner import DEMO, REPO


@pytest.fixture(scope='module')
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'good.pth'
    torch.save({'state_dict': {'w': torch.randn(200, 50)}}, path)
    return path


@pytest.mark.parametrize('damage, problem', [
    (lambda data: data[:len(data) // 2], 'is truncated or corrupt'),
    (lambda data: b'', 'is empty (0 bytes)'),
    (lambda data: b'<html>Service Unavailable</html>', "its first bytes are b'<html>Serv"),
    (lambda data: data[:40] + b'\xff' * 200 + data[240:], 'fails its CRC check'),
])
def test_damaged_files_are_named_with_what_to_do(good, tmp_path, damage, problem):
    path = tmp_path / 'damaged.pth'
    path.write_bytes(damage(good.read_bytes()))
    with pytest.raises(CorruptCheckpointError) as err:
        load_from_local_safe(str(path))
    message = str(err.value)
    assert message.startswith(f'checkpoint "{path}" ') and problem in message
    assert message.endswith('Delete it and copy or download it again.')
    assert '\n' not in message


def test_intact_files_are_not_called_corrupt(good, tmp_path):
    assert describe_corruption(str(good)) is None
    assert load_from_local_safe(str(good))['state_dict']['w'].shape == (200, 50)
    legacy = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert describe_corruption(str(legacy)) is None
    assert torch.equal(load_from_local_safe(str(legacy))['w'], torch.ones(2))


def test_an_unsafe_pickle_is_still_refused_as_unsafe(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'f': torch.nn.Identity()}, path)
    with pytest.raises(UnsafeCheckpointError, match='not on detkit\'s allow-list'):
        load_from_local_safe(str(path))


def test_test_py_on_a_truncated_checkpoint_prints_one_line(good, tmp_path, tiny, capsys):
    path = tmp_path / 'truncated.pth'
    path.write_bytes(good.read_bytes()[:1000])
    spec = importlib.util.spec_from_file_location('test_tool', REPO / 'tools' / 'test.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    argv = [str(DEMO), str(path), '--work-dir', str(tmp_path / 'work'), *tiny()]
    assert tool.run_tool(tool.main, argv) == 1
    stderr = capsys.readouterr().err
    assert 'Traceback' not in stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith('error:')]
    assert line == (f'error: checkpoint "{path}" is truncated or corrupt (1000 bytes; its zip '
                    'archive is incomplete or fails its CRC check), so it cannot be loaded. '
                    'Delete it and copy or download it again.')
