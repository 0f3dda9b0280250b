import argparse
import os.path as osp

import pytest
import torch

from detkit.engine import dist, runner_utils
from detkit.engine.runner_utils import (add_common_args, enable_amp, enable_auto_scale_lr,
                                        enable_cuda_graph, run_tool, set_checkpoint_strict,
                                        setup_common)
from detkit.registry import MODELS
from detkit.utils import compat, load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'retinanet_r18_fpn_synthetic.py')


def _args(*argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    add_common_args(parser)
    return parser.parse_args([DEMO, *argv])


def test_cfg_options_change_the_built_model():
    args = _args('--cfg-options', 'model.neck.out_channels=32',
                 'model.bbox_head.in_channels=32', 'model.bbox_head.num_classes=3')
    model = MODELS.build(load_config(args.config, args.cfg_options).model)
    assert model.neck.fpn_convs[0].conv.out_channels == 32
    assert model.bbox_head.num_classes == 3


def test_work_dir_defaults_to_work_dirs_and_the_config_name():
    cfg = load_config(DEMO)
    setup_common(cfg, _args())
    assert cfg.work_dir == './work_dirs/retinanet_r18_fpn_synthetic' and cfg.launcher == 'none'
    setup_common(cfg, _args('--work-dir', '/tmp/x'))
    assert cfg.work_dir == '/tmp/x'


def test_amp_on_the_cpu_is_bf16_autocast(monkeypatch):
    monkeypatch.setattr(runner_utils, 'cpu_has_native_bf16', lambda: True)
    cfg = load_config(DEMO)
    enable_amp(cfg, 'float16')
    expected = 'GuardedAmpOptimWrapper' if torch.cuda.is_available() else 'CPUAmpOptimWrapper'
    assert cfg.optim_wrapper.type == expected
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=10, norm_type=2)


def test_amp_on_a_cpu_without_bf16_stays_fp32_and_says_so(monkeypatch):
    said = []
    monkeypatch.setattr(runner_utils, 'print_log', lambda msg, **kw: said.append(msg))
    monkeypatch.setattr(runner_utils.torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(runner_utils, 'cpu_has_native_bf16', lambda: False)
    cfg = load_config(DEMO)
    enable_amp(cfg, 'float16')
    assert cfg.optim_wrapper.type == 'GuardedOptimWrapper'  # the config's, unchanged
    assert len(said) == 1 and 'no bf16 instructions' in said[0]


def test_cpu_bf16_probe_reads_torchs_probes(monkeypatch):
    for name in ('_is_avx512_bf16_supported', '_is_amx_tile_supported'):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    assert compat.cpu_has_native_bf16() is False
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: True)
    assert compat.cpu_has_native_bf16() is True
    monkeypatch.delattr(torch.cpu, '_is_amx_tile_supported')
    monkeypatch.delattr(torch.cpu, '_is_avx512_bf16_supported')
    assert compat.cpu_has_native_bf16() is False  # a torch without the probes


def test_auto_scale_lr_and_strict_checkpoints():
    cfg = load_config(DEMO)
    enable_auto_scale_lr(cfg)
    set_checkpoint_strict(cfg, True)
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    assert cfg.default_hooks.checkpoint_match == dict(type='CheckpointMatchHook', strict=True)


def test_pytorch_launcher_outside_torchrun_says_how(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    cfg = load_config(DEMO)
    with pytest.raises(RuntimeError, match='torchrun --nproc_per_node'):
        setup_common(cfg, _args('--launcher', 'pytorch'))


def test_user_errors_print_one_message_and_exit_1(capsys, monkeypatch):
    monkeypatch.delenv('DETKIT_DEBUG', raising=False)

    def main(argv):
        raise FileNotFoundError('annotation file not found: data/coco/x.json')

    assert run_tool(main, []) == 1
    err = capsys.readouterr().err
    assert 'error: annotation file not found: data/coco/x.json' in err
    assert 'Traceback' not in err and '--debug' in err


def test_debug_shows_the_traceback(capsys):
    def main(argv):
        raise ValueError('bad value')

    assert run_tool(main, ['--debug']) == 1
    assert 'Traceback' in capsys.readouterr().err


def test_programming_errors_keep_their_traceback():
    def main(argv):
        raise AttributeError('a bug')

    with pytest.raises(AttributeError):
        run_tool(main, [])


def test_a_failed_collective_is_explained(capsys, monkeypatch):
    monkeypatch.setenv('RANK', '0')
    dist.set_timeout(30)

    def main(argv):
        raise RuntimeError('[../gloo/transport/tcp/pair.cc:534] Connection closed by peer')

    assert run_tool(main, []) == 1
    err = capsys.readouterr().err
    assert 'rank 0: lost contact with another rank' in err
    assert '30 s (env_cfg.dist_cfg.timeout)' in err
    dist.set_timeout(None)


def test_cuda_graph_option_becomes_the_graph_loop():
    cfg = load_config(osp.join(REPO, 'configs', 'retinanet_r50_fpn.py'))
    cfg.train_cfg.cuda_graph = True
    enable_cuda_graph(cfg)
    assert cfg.train_cfg.type == 'CudaGraphEpochBasedTrainLoop'
    assert cfg.train_cfg.canvas == (800, 1344) and 'cuda_graph' not in cfg.train_cfg
    demo = load_config(DEMO)
    demo.train_cfg.cuda_graph = dict(max_gts=30)
    enable_cuda_graph(demo)
    assert demo.train_cfg.canvas == (256, 256) and demo.train_cfg.max_gts == 30
    plain = load_config(DEMO)
    enable_cuda_graph(plain)
    assert plain.train_cfg.type == 'EpochBasedTrainLoop'  # untouched without the option
    plain.train_cfg.update(type='IterBasedTrainLoop', cuda_graph=True)
    with pytest.raises(ValueError, match='epoch-based loop'):
        enable_cuda_graph(plain)
