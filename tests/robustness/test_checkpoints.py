import os
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer

from detkit.engine import (AtomicLocalBackend, CheckpointMismatchError, UnsafeCheckpointError,
                           find_latest_complete_checkpoint, load_from_local_safe,
                           set_unsafe_load, state_dict_mismatch)
from detkit.engine.checkpoint import safe_globals
from engine.toy import ToyModel, toy_runner


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A real mmengine checkpoint: SGD, LinearLR + MultiStepLR, metrics, save_best."""
    work_dir = tmp_path_factory.mktemp('toy_run')
    toy_runner(work_dir).train()
    return work_dir


class Custom:
    pass


class SneakyGetattr:
    def __reduce__(self):
        return getattr, (HistoryBuffer, 'register_statistics')


@pytest.mark.skipif(not hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint'),
                    reason='torch < 2.5 cannot list a checkpoint\'s globals')
def test_mmengine_checkpoint_needs_only_the_allow_listed_globals(trained):
    found = set(torch.serialization.get_unsafe_globals_in_checkpoint(
        str(trained / 'epoch_2.pth')))
    assert found and found <= {name for _, name in safe_globals()}
    ckpt = load_from_local_safe(str(trained / 'epoch_2.pth'))
    assert ckpt['meta']['epoch'] == 2
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'], HistoryBuffer)


def test_runner_resumes_and_loads_with_weights_only(trained, tmp_path):
    runner = toy_runner(tmp_path, max_epochs=3, resume=True,
                        load_from=str(trained / 'epoch_2.pth'))
    runner.train()
    assert runner.epoch == 3 and runner.iter == 12


def test_arbitrary_pickle_is_refused_with_the_way_out(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'payload': Custom()}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_from_local_safe(path)
    assert 'Custom' in str(err.value) and '--unsafe-load' in str(err.value)
    assert 'arbitrary code' in str(err.value)
    set_unsafe_load(True)
    try:
        assert isinstance(load_from_local_safe(path)['payload'], Custom)
    finally:
        set_unsafe_load(False)


def test_getattr_is_allowed_only_for_history_buffer_statistics(tmp_path):
    path = str(tmp_path / 'sneaky.pth')
    torch.save({'x': SneakyGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError, match='register_statistics'):
        load_from_local_safe(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_from_local_safe(str(tmp_path / 'nope.pth'))


def test_atomic_put_replaces_the_file_or_leaves_it_untouched(tmp_path, monkeypatch):
    target = tmp_path / 'ckpt' / 'epoch_1.pth'
    backend = AtomicLocalBackend()
    backend.put(b'first', str(target))
    assert target.read_bytes() == b'first'

    def killed(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', killed)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'second, never complete', str(target))
    assert target.read_bytes() == b'first'
    assert os.listdir(target.parent) == ['epoch_1.pth']


def test_auto_resume_picks_the_newest_complete_checkpoint(tmp_path):
    torch.save({'a': torch.zeros(100)}, str(tmp_path / 'epoch_1.pth'))
    torch.save({'a': torch.zeros(100)}, str(tmp_path / 'epoch_2.pth'))
    whole = (tmp_path / 'epoch_2.pth').read_bytes()
    (tmp_path / 'epoch_3.pth').write_bytes(whole[: len(whole) // 2])  # killed mid-write
    torch.save({}, str(tmp_path / 'best_coco_bbox_mAP_epoch_3.pth'))
    os.utime(tmp_path / 'epoch_1.pth', (1, 1))
    assert find_latest_complete_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    assert find_latest_complete_checkpoint(str(tmp_path / 'empty')) is None


def test_mismatch_message_lists_a_few_keys_and_the_shapes():
    model = {f'layer{i}.weight': torch.zeros(2) for i in range(8)}
    model['head.weight'] = torch.zeros(3, 4)
    ckpt = {'module.head.weight': torch.zeros(5, 4), 'extra.bias': torch.zeros(1)}
    msg = state_dict_mismatch(model, ckpt, max_listed=3)
    assert '8 missing in the checkpoint: layer0.weight, layer1.weight, layer2.weight' in msg
    assert '… and 5 more' in msg
    assert '1 unexpected (not in the model): extra.bias' in msg
    assert 'head.weight: checkpoint [5, 4] vs model [3, 4]' in msg
    assert state_dict_mismatch(model, dict(model)) is None


def test_strict_checkpoint_match_stops_a_mismatched_load(trained, tmp_path):
    ckpt = load_from_local_safe(str(trained / 'epoch_2.pth'))
    ckpt['state_dict']['linear.weight'] = torch.zeros(3, 2)
    bad = str(tmp_path / 'bad.pth')
    torch.save(ckpt, bad)
    runner = toy_runner(tmp_path, model=ToyModel(), load_from=bad,
                        default_hooks=dict(checkpoint_match=dict(type='CheckpointMatchHook',
                                                                 strict=True)))
    with pytest.raises(CheckpointMismatchError, match=r'linear.weight: checkpoint \[3, 2\]'):
        runner.load_checkpoint(bad)


def test_unsafe_error_is_an_unpickling_error():
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)
