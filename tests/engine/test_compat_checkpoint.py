"""detkit.utils.compat.load_weights_only on this torch and as on torch < 2.5.

torch < 2.5 has no ``torch.serialization.safe_globals``; deleting it here
sends the loads through the allow-list unpickler that detkit uses there.
"""
import pickle
from collections import Counter

import pytest
import torch
import torch._weights_only_unpickler as unpickler
from mmengine.logging import HistoryBuffer

from detkit.engine import UnsafeCheckpointError, load_from_local_safe
from detkit.engine.checkpoint import safe_globals
from detkit.utils.compat import load_weights_only
from .toy import toy_runner


class _Payload:
    def __reduce__(self):
        return print, ('unpickling ran code',)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A real mmengine checkpoint: model, SGD momentum, schedulers, message hub."""
    work_dir = tmp_path_factory.mktemp('toy_run')
    toy_runner(work_dir, max_epochs=1).train()
    return str(work_dir / 'epoch_1.pth')


# The globals torch 2.1's weights-only unpickler allows (torch/_weights_only_unpickler.py).
_TORCH_2_1_ALLOWED = {
    'collections.OrderedDict', 'torch.nn.parameter.Parameter',
    'torch.serialization._get_layout', 'torch.Size', 'torch.Tensor', 'torch.complex32',
    'torch.complex64', 'torch.complex128', 'torch.float16', 'torch.float32', 'torch.float64',
    'torch.int8', 'torch.int16', 'torch.int32', 'torch.int64', 'torch._utils._rebuild_parameter',
    'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2',
    'torch._utils._rebuild_sparse_tensor', 'torch._utils._rebuild_meta_tensor_no_storage',
    'torch._tensor._rebuild_from_type_v2'}


@pytest.fixture
def torch_before_2_5(monkeypatch):
    """No ``safe_globals``; torch's own allow-list cut down to torch 2.1's."""
    monkeypatch.delattr(torch.serialization, 'safe_globals', raising=False)
    full = unpickler._get_allowed_globals()
    monkeypatch.setattr(unpickler, '_get_allowed_globals', lambda: {
        name: obj for name, obj in full.items()
        if name in _TORCH_2_1_ALLOWED or name.endswith(('Tensor', 'Storage'))})


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, HistoryBuffer):
        _assert_same(a.data, b.data)
    elif hasattr(a, 'shape'):  # numpy
        assert a.dtype == b.dtype and (a == b).all()
    else:
        assert a == b


def test_the_fallback_reads_what_torchs_allow_list_reads(checkpoint, request):
    current = load_weights_only(checkpoint, 'cpu', safe_globals())
    request.getfixturevalue('torch_before_2_5')
    fallback = load_weights_only(checkpoint, 'cpu', safe_globals())
    _assert_same(current, fallback)
    assert fallback['meta']['epoch'] == 1
    assert isinstance(fallback['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert fallback['message_hub']['log_scalars']['train/loss'].mean() == \
        current['message_hub']['log_scalars']['train/loss'].mean()


def test_the_fallback_keeps_bf16_bool_and_parameters(tmp_path, torch_before_2_5):
    path = str(tmp_path / 'tensors.pth')
    state = dict(w=torch.nn.Parameter(torch.randn(3)), b=torch.ones(2, dtype=torch.bfloat16),
                 mask=torch.tensor([True, False]), size=torch.Size([2, 3]),
                 dtype=torch.bfloat16, device=torch.device('cpu'), raw=b'\x00\xff',
                 counts=Counter(a=2), ids={1, 2})
    torch.save(state, path)
    loaded = load_weights_only(path, 'cpu', [])
    _assert_same(state, loaded)


def test_the_fallback_refuses_a_global_outside_the_list(tmp_path, capsys, torch_before_2_5):
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'payload': _Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match='GLOBAL builtins.print is not on the '
                       'allow-list'):
        load_weights_only(path, 'cpu', safe_globals())
    assert 'unpickling ran code' not in capsys.readouterr().out


def test_the_fallback_refuses_what_is_not_allowed_by_the_caller(checkpoint, torch_before_2_5):
    with pytest.raises(pickle.UnpicklingError, match='GLOBAL mmengine.logging.history_buffer'
                       '.HistoryBuffer is not on'):
        load_weights_only(checkpoint, 'cpu', [])


def test_detkit_refuses_with_the_way_out_as_on_torch_before_2_5(tmp_path, monkeypatch,
                                                                torch_before_2_5):
    monkeypatch.delattr(torch.serialization, 'get_unsafe_globals_in_checkpoint', raising=False)
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'payload': _Payload()}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_from_local_safe(path)
    assert 'GLOBAL builtins.print is not on the allow-list' in str(err.value)
    assert '--unsafe-load' in str(err.value)
