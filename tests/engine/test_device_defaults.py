import os.path as osp

import pytest
import torch

from detkit.engine import device_defaults
from detkit.engine.device_defaults import apply_device_defaults, auto_num_workers
from detkit.registry import MODELS
from detkit.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COCO_R50 = osp.join(REPO, 'configs', 'retinanet_r50_fpn.py')
DEMO = osp.join(REPO, 'configs', 'retinanet_r18_fpn_synthetic.py')


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(device_defaults.os, 'sched_getaffinity', lambda pid: set(range(8)),
                        raising=False)


def test_without_cuda_only_the_worker_count_is_filled_in():
    cfg = load_config(COCO_R50)
    apply_device_defaults(cfg, cuda=False)
    loader = cfg.train_dataloader
    assert loader.num_workers == 2 and loader.persistent_workers is True
    assert 'pin_memory' not in loader and 'channels_last' not in cfg.model
    assert 'fused' not in cfg.optim_wrapper.optimizer


def test_with_cuda_workers_pinned_memory_channels_last_and_fused_sgd(eight_cores, monkeypatch):
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    cfg = load_config(COCO_R50)
    apply_device_defaults(cfg, cuda=True)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (3, True, True)
    assert cfg.model.channels_last is True
    assert cfg.optim_wrapper.optimizer.fused is True  # torch >= 2.3 has fused SGD
    model = MODELS.build(cfg.model)
    assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_auto_workers_stay_between_one_and_eight(monkeypatch):
    monkeypatch.setattr(device_defaults.os, 'sched_getaffinity', lambda pid: set(range(64)),
                        raising=False)
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '1')
    assert auto_num_workers(cuda=True) == 8
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '64')
    assert auto_num_workers(cuda=True) == 1
    assert auto_num_workers(cuda=False) == 2


def test_what_the_config_sets_is_kept(eight_cores):
    cfg = load_config(COCO_R50, {'train_dataloader.num_workers': 0,
                                 'train_dataloader.pin_memory': False,
                                 'model.channels_last': False,
                                 'optim_wrapper.optimizer.foreach': True})
    apply_device_defaults(cfg, cuda=True)
    loader = cfg.train_dataloader
    # persistent workers need workers: turned off rather than failing in DataLoader
    assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (0, False, False)
    assert cfg.model.channels_last is False
    assert 'fused' not in cfg.optim_wrapper.optimizer


def test_adamw_is_fused_and_other_optimizers_are_left_alone():
    cfg = load_config(DEMO)
    apply_device_defaults(cfg, cuda=True)
    assert cfg.optim_wrapper.optimizer.fused is True and cfg.train_dataloader.num_workers == 0
    cfg = load_config(DEMO, {'optim_wrapper.optimizer': dict(type='RMSprop', lr=0.01)})
    apply_device_defaults(cfg, cuda=True)
    assert 'fused' not in cfg.optim_wrapper.optimizer


def test_a_model_without_the_keyword_gets_no_channels_last():
    cfg = load_config(DEMO, {'model': dict(type='DetDataPreprocessor')})
    apply_device_defaults(cfg, cuda=True)
    assert 'channels_last' not in cfg.model


@pytest.mark.parametrize('workers', ['many', -1, 1.5, True])
def test_a_bad_worker_count_is_named(workers):
    cfg = load_config(DEMO, {'val_dataloader.num_workers': workers})
    with pytest.raises(ValueError, match=f"num_workers must be an int >= 0 or 'auto', got "
                                         f"{workers!r}"):
        apply_device_defaults(cfg, cuda=False)


def _demo_model(**options):
    torch.manual_seed(0)
    cfg = load_config(DEMO).model
    cfg.update(options)
    return MODELS.build(cfg).eval()


def test_channels_last_model_computes_what_the_nchw_one_does():
    plain, packed = _demo_model(), _demo_model(channels_last=True)
    assert packed.bbox_head.retina_cls.weight.is_contiguous(memory_format=torch.channels_last)
    packed.load_state_dict(plain.state_dict())  # keeps the layout of packed's parameters
    assert packed.neck.fpn_convs[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    inputs = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        for a, b in zip(*(m(inputs, mode='tensor') for m in (plain, packed))):
            for x, y in zip(a, b):
                torch.testing.assert_close(y, x, rtol=1e-4, atol=1e-4)


def test_compile_keeps_state_dict_keys_and_outputs():
    plain, compiled = _demo_model(), _demo_model(compile=dict(backend='eager'))
    assert list(compiled.state_dict()) == list(plain.state_dict())
    inputs = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(*(m(inputs, mode='tensor') for m in (plain, compiled))):
            for x, y in zip(a, b):
                torch.testing.assert_close(y, x)


def test_compile_without_module_compile_says_which_torch(monkeypatch):
    monkeypatch.delattr(torch.nn.Module, 'compile')
    with pytest.raises(ImportError, match=r'model.compile needs nn.Module.compile.*torch>=2.2'):
        _demo_model(compile=True)


def test_preprocessor_copies_without_waiting_by_default():
    assert _demo_model().data_preprocessor._non_blocking is True
