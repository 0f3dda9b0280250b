"""detkit.utils.compat: the version floor, and both branches of every feature check.

Each newer API detkit uses is tested on the torch installed here and, with
its signature monkeypatched to an older release's, on the fallback.
"""
import importlib.util
import inspect
import re
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as torch_dist
import torch.utils.flop_counter
from mmengine.registry import MODEL_WRAPPERS
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from detkit.engine import runner_utils
from detkit.utils import compat, load_config
from .test_runner_utils import DEMO

REPO = Path(__file__).resolve().parents[2]
_REAL_DDP_INIT = DistributedDataParallel.__init__


def _torch_2_1_ddp_init(self, module, device_ids=None, output_device=None, dim=0,
                        broadcast_buffers=True, process_group=None, bucket_cap_mb=25,
                        find_unused_parameters=False, check_reduction=False,
                        gradient_as_bucket_view=False, static_graph=False):
    """DDP.__init__ with torch 2.1's parameters: an unknown keyword is a TypeError
    as it was there; the call itself goes to the installed DDP."""
    _torch_2_1_ddp_init.calls.append(dict(broadcast_buffers=broadcast_buffers,
                                          gradient_as_bucket_view=gradient_as_bucket_view))
    _REAL_DDP_INIT(self, module, device_ids=device_ids, output_device=output_device,
                   dim=dim, broadcast_buffers=broadcast_buffers, process_group=process_group,
                   bucket_cap_mb=bucket_cap_mb, find_unused_parameters=find_unused_parameters,
                   check_reduction=check_reduction,
                   gradient_as_bucket_view=gradient_as_bucket_view, static_graph=static_graph)


@pytest.fixture
def torch_2_1_ddp(monkeypatch):
    _torch_2_1_ddp_init.calls = []
    monkeypatch.setattr(DistributedDataParallel, '__init__', _torch_2_1_ddp_init)
    return _torch_2_1_ddp_init.calls


@pytest.fixture
def one_rank_gloo(tmp_path):
    """A real one-process gloo group, so that DDP can be built in the test."""
    store = torch_dist.FileStore(str(tmp_path / 'store'), 1)
    torch_dist.init_process_group('gloo', store=store, rank=0, world_size=1)
    yield
    torch_dist.destroy_process_group()


def _ddp_wrapper_cfg(monkeypatch, on_cpus=True):
    """``model_wrapper_cfg`` as tools/train.py sets it under torchrun."""
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(runner_utils, 'install_termination_message', lambda: None)
    monkeypatch.setattr(runner_utils, 'init_cpu_distributed', lambda *args: on_cpus)
    cfg = load_config(DEMO)
    runner_utils.setup_launcher(cfg, 'pytorch')
    return cfg.model_wrapper_cfg


def _build_ddp(wrapper_cfg, deprecation='error'):
    """Build the wrapper as mmengine's Runner does; FutureWarnings per ``deprecation``."""
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with warnings.catch_warnings():
        warnings.simplefilter(deprecation, FutureWarning)
        return MODEL_WRAPPERS.build(dict(wrapper_cfg), default_args=dict(module=model))


@pytest.mark.parametrize('text, expected', [
    ('2.14.1', (2, 14, 1)), ('2.1.2+cu121', (2, 1, 2)), ('2.6', (2, 6, 0)),
    ('2.5.0a0+git1234', (2, 5, 0)), ('0.10.4', (0, 10, 4)), (' 0.16.0rc1 ', (0, 16, 0))])
def test_version_tuple(text, expected):
    assert compat.version_tuple(text) == expected


def test_version_tuple_refuses_what_is_not_a_version():
    with pytest.raises(ValueError, match="cannot read the version number 'unknown'"):
        compat.version_tuple('unknown')


def _versions(**versions):
    """A ``get_version`` for check_versions: these versions, the rest current."""
    current = dict(torch='2.14.1', torchvision='0.29.1', mmengine='0.10.7', numpy='2.2.6')
    return {**current, **versions}.__getitem__


def _bridge_not_asked():
    raise AssertionError('torch was imported to test numpy although it was not needed')


def test_the_installed_versions_are_supported():
    compat.check_versions()
    assert compat.torch_reads_numpy()
    assert compat.version_tuple(torch.__version__) >= compat.version_tuple(
        compat.MIN_VERSIONS['torch'])


def test_an_old_torch_is_refused_naming_installed_and_required_versions():
    floor = compat.MIN_VERSIONS['torch']
    major, minor = compat.version_tuple(floor)[:2]
    older = f'{major}.{minor - 1}.1+cu118'
    with pytest.raises(compat.UnsupportedVersionError) as err:
        compat.check_versions(_versions(torch=older), _bridge_not_asked)
    assert str(err.value).startswith(
        f'torch {older} is installed, detkit needs torch>={floor}. '
        f'Upgrade with: pip install "torch>={floor}" (torch and torchvision')
    assert isinstance(err.value, ImportError)


def test_every_package_below_its_floor_is_named():
    floors = compat.MIN_VERSIONS
    with pytest.raises(compat.UnsupportedVersionError) as err:
        compat.check_versions(
            _versions(torch='1.13.1', torchvision='0.14.1', mmengine='0.9.1'), _bridge_not_asked)
    message = str(err.value)
    for name, version in (('torch', '1.13.1'), ('torchvision', '0.14.1'),
                          ('mmengine', '0.9.1')):
        assert f'{name} {version} is installed, detkit needs {name}>={floors[name]}' in message
    assert f'pip install "torch>={floors["torch"]}" "torchvision>={floors["torchvision"]}" ' \
           f'"mmengine>={floors["mmengine"]}"' in message


def test_numpy_2_under_a_torch_built_for_numpy_1_is_refused():
    with pytest.raises(compat.UnsupportedVersionError,
                       match=r'^torch 2.1.2\+cu121 cannot use numpy 2.2.6: it was built against '
                       r'NumPy 1.x \("Numpy is not available"\). Install NumPy 1.x with pip '
                       r'install "numpy<2", or torch>=2.4.$'):
        compat.check_versions(_versions(torch='2.1.2+cu121', torchvision='0.16.2'),
                              lambda: False)


def test_numpy_is_checked_only_where_it_can_fail():
    compat.check_versions(_versions(torch='2.1.2', torchvision='0.16.2', numpy='1.26.4'),
                          _bridge_not_asked)
    compat.check_versions(_versions(torch='2.4.0', torchvision='0.19.0'), _bridge_not_asked)
    compat.check_versions(_versions(torch='2.3.1', torchvision='0.18.1'), lambda: True)


def test_ddp_keyword_of_the_installed_torch():
    has_new = 'forward_sync_buffers' in inspect.signature(_REAL_DDP_INIT).parameters
    expected = 'forward_sync_buffers' if has_new else 'broadcast_buffers'
    assert compat.ddp_buffer_sync_kwargs() == {expected: False}


def test_ddp_keyword_falls_back_on_torch_2_1(torch_2_1_ddp):
    assert compat.ddp_buffer_sync_kwargs() == {'broadcast_buffers': False}


def test_cpu_ddp_is_built_with_the_installed_torch(monkeypatch, one_rank_gloo):
    wrapper_cfg = _ddp_wrapper_cfg(monkeypatch)
    assert wrapper_cfg['device_ids'] is None
    ddp = _build_ddp(wrapper_cfg)  # a deprecated keyword would fail here
    # forward_sync_buffers on new torch; broadcast_buffers is its alias there
    assert getattr(ddp, 'forward_sync_buffers', ddp.broadcast_buffers) is False
    assert ddp.gradient_as_bucket_view is True


def test_cpu_ddp_is_built_with_torch_2_1s_signature(monkeypatch, one_rank_gloo, torch_2_1_ddp):
    wrapper_cfg = _ddp_wrapper_cfg(monkeypatch)
    assert wrapper_cfg == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                               gradient_as_bucket_view=True, device_ids=None)
    ddp = _build_ddp(wrapper_cfg, deprecation='ignore')  # torch >= 2.13 deprecates it
    assert torch_2_1_ddp == [dict(broadcast_buffers=False, gradient_as_bucket_view=True)]
    assert ddp.broadcast_buffers is False


def test_the_new_keyword_is_what_torch_2_1_refused(torch_2_1_ddp):
    """The reported bug: torch 2.1's DDP has no forward_sync_buffers."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'forward_sync_buffers'"):
        DistributedDataParallel(nn.Linear(2, 2), forward_sync_buffers=False)


def test_gpu_ddp_uses_the_detected_keyword_too(monkeypatch, torch_2_1_ddp):
    assert _ddp_wrapper_cfg(monkeypatch, on_cpus=False) == dict(
        type='MMDistributedDataParallel', broadcast_buffers=False, gradient_as_bucket_view=True)


def _torch_2_1_onnx_export(model, args, f, export_params=True, verbose=False, training=None,
                           input_names=None, output_names=None, operator_export_type=None,
                           opset_version=None, do_constant_folding=True, dynamic_axes=None,
                           keep_initializers_as_inputs=None, custom_opsets=None,
                           export_modules_as_functions=False, autograd_inlining=True):
    raise AssertionError('called although its keywords were missing')


def test_require_keywords_passes_what_the_function_has():
    compat.require_keywords(_torch_2_1_onnx_export, ('dynamic_axes', 'opset_version'),
                            'ONNX export', minimum_torch='2.5')


def test_onnx_export_on_torch_2_1_names_the_torch_it_needs(monkeypatch):
    pytest.importorskip('onnxscript', reason='needs the onnx extra')
    spec = importlib.util.spec_from_file_location(
        'export_onnx', REPO / 'tools' / 'deployment' / 'export_onnx.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(_torch_2_1_onnx_export, '__module__', 'torch.onnx')
    monkeypatch.setattr(_torch_2_1_onnx_export, '__name__', 'export')
    monkeypatch.setattr(torch.onnx, 'export', _torch_2_1_onnx_export)
    with pytest.raises(compat.UnsupportedVersionError) as err:
        tool.export(None, torch.zeros(1, 3, 32, 32), 'unused.onnx', 18)
    assert str(err.value) == (
        'ONNX export calls torch.onnx.export(dynamo=..., dynamic_shapes=..., '
        f'external_data=...), which torch {torch.__version__} does not have: it needs '
        'torch>=2.5.')


def test_grad_scaler_of_the_installed_torch():
    expected = torch.amp.GradScaler if hasattr(torch.amp, 'GradScaler') else \
        torch.cuda.amp.GradScaler
    assert compat.grad_scaler_class() is expected


def test_grad_scaler_before_torch_2_3(monkeypatch):
    monkeypatch.delattr(torch.amp, 'GradScaler', raising=False)
    assert compat.grad_scaler_class() is torch.cuda.amp.GradScaler


@pytest.mark.skipif(not hasattr(torch.utils.flop_counter.FlopCounterMode(), 'mod_tracker'),
                    reason='torch < 2.4: the next test is this torch\'s branch')
def test_flop_counter_tracks_modules_by_itself_here():
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    counter = compat.flop_counter('counting')
    with counter:
        model(torch.zeros(1, 3, 8, 8))
    assert sum(counter.get_flop_counts()['Sequential.0'].values()) == 2 * 3 * 9 * 4 * 36


def test_flop_counter_before_torch_2_4_names_the_torch_it_needs(monkeypatch):
    class Torch21FlopCounterMode:  # no mod_tracker: counts only the modules it is given
        def __init__(self, mods=None, depth=2, display=True, custom_mapping=None):
            self.mods = mods

    monkeypatch.setattr(torch.utils.flop_counter, 'FlopCounterMode', Torch21FlopCounterMode)
    with pytest.raises(compat.UnsupportedVersionError, match=re.escape(
            'get_flops.py needs FLOP counts per module, which FlopCounterMode of torch '
            f'{torch.__version__} does not keep by itself: it needs torch>=2.4.')):
        compat.flop_counter('get_flops.py')
