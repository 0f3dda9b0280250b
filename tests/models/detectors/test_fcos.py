"""FCOS: MMDetection's fcos_r50-caffe_fpn_gn-head_1x_coco config and state_dict, the
synthetic config's short training run."""
import copy
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
# the layout of tests/data/family_state_dict_keys.txt and the in-process train tool are
# read the same way for every detector of the family
from test_atss_gfl import stock_section, train_main

from detkit.registry import MODELS

ROOT = Path(__file__).parents[3]
STOCK = 'fcos_r50-caffe_fpn_gn-head_1x_coco'
CONFIG = ROOT / 'configs' / 'fcos' / f'{STOCK}.py'


def stock_cfg():
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None
    return cfg


def test_stock_config_has_mmdetections_state_dict_and_loads_it_strictly():
    header, entries = stock_section(STOCK)
    cfg = stock_cfg()
    model = MODELS.build(cfg.model)
    assert header['config'] == f'configs/fcos/{STOCK}.py'
    assert type(model).__name__ == header['detector'] == 'FCOS'
    assert type(model.bbox_head).__name__ == header['head'] == 'FCOSHead'
    state = model.state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == entries
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == int(header['parameters']) == 32_295_322
    assert sum(v.numel() for v in state.values()) == int(header['state_dict_values'])
    # the caffe backbone's BN layers are frozen (requires_grad=False), stage 1 too
    assert sum(p.numel() for p in params if p.requires_grad) == int(header['trainable'])
    assert int(header['trainable']) == 32_019_802
    gen = torch.Generator().manual_seed(0)
    theirs = {k: torch.randn(v.shape, generator=gen).to(v.dtype) for k, v in state.items()}
    model.load_state_dict(theirs, strict=True)
    for key in ('bbox_head.scales.4.scale', 'bbox_head.conv_centerness.weight',
                'bbox_head.reg_convs.3.gn.bias', 'backbone.layer1.0.conv1.weight'):
        assert torch.equal(model.state_dict()[key], theirs[key])


def test_stock_head_config_is_the_one_the_reference_was_made_from(load_ref):
    cfg = Config.fromfile(CONFIG)
    ours = copy.deepcopy(cfg.model.bbox_head.to_dict())
    ours.update(num_classes=4, in_channels=32, feat_channels=32, stacked_convs=2,
                norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
                train_cfg=cfg.model.get('train_cfg'), test_cfg=cfg.model.test_cfg.to_dict())
    assert ours == load_ref('fcos_head')['meta']['head_cfg']


def test_stock_config_feeds_bgr_pixels_minus_the_caffe_mean():
    cfg = stock_cfg()
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    img = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    out = preprocessor(dict(inputs=[img], data_samples=None))['inputs']
    assert out.shape == (1, 3, 64, 64)   # padded to a multiple of 32
    mean = torch.tensor([102.9801, 115.9465, 122.7717]).view(3, 1, 1)
    torch.testing.assert_close(out[0, :, :40, :50], img.float() - mean)   # no channel swap


def test_stock_optimizer_doubles_the_bias_lr_without_decay():
    cfg = stock_cfg()
    model = MODELS.build(dict(
        type='FCOS', backbone=dict(type='ResNet', depth=18, base_channels=8,
                                   out_indices=(1, 2, 3), style='caffe'),
        neck=dict(type='FPN', in_channels=[16, 32, 64], out_channels=16, num_outs=5,
                  add_extra_convs='on_output', relu_before_extra_convs=True),
        bbox_head=dict(type='FCOSHead', num_classes=3, in_channels=16, feat_channels=16,
                       stacked_convs=1, strides=[8, 16, 32, 64, 128],
                       norm_cfg=dict(type='GN', num_groups=4))))
    with DefaultScope.overwrite_default_scope('detkit'):   # as the Runner: detkit's wrappers
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    bias = model.bbox_head.conv_cls.bias
    (group,) = [g for g in wrapper.optimizer.param_groups if any(p is bias for p in g['params'])]
    assert group['lr'] == pytest.approx(0.02) and group['weight_decay'] == 0
    weight = model.bbox_head.conv_cls.weight
    (group,) = [g for g in wrapper.optimizer.param_groups
                if any(p is weight for p in g['params'])]
    assert group['lr'] == pytest.approx(0.01) and group['weight_decay'] == pytest.approx(1e-4)
    assert wrapper.clip_grad_kwargs == dict(max_norm=35, norm_type=2)


def test_strides_must_match_the_neck_levels():
    cfg = stock_cfg()
    cfg.model.bbox_head.update(strides=[8, 16, 32, 64],
                               regress_ranges=[(-1, 64), (64, 128), (128, 256), (256, 1e8)])
    with pytest.raises(ValueError, match=r'neck gives 5 feature levels .* has 4 strides'):
        MODELS.build(cfg.model)


def test_synthetic_config_trains_and_evaluates(tiny, tmp_path):
    config = ROOT / 'configs' / 'fcos' / 'fcos_r18_fpn_synthetic.py'
    train_main()([str(config), '--work-dir', str(tmp_path),
                  *tiny(max_epochs=1), 'train_dataloader.dataset.indices=4'])
    (log,) = tmp_path.glob('*/vis_data/scalars.json')
    records = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [r for r in records if 'loss' in r]
    losses = {'loss_cls', 'loss_bbox', 'loss_centerness'}
    assert len(steps) == 2
    for step in steps:
        assert losses <= set(step) and all(0 <= step[k] < 100 for k in losses)
        assert step['loss'] == pytest.approx(sum(step[k] for k in losses), rel=1e-4)
    (metrics,) = [r for r in records if 'coco/bbox_mAP' in r]
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
