"""The tiny RetinaNet end to end against MMDetection 3.3.0 (tests/data/model_tiny.pt)."""
import copy
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from detkit.registry import MODELS
from detkit.structures import DetDataSample

ROOT = Path(__file__).parents[3]


def build_tiny(ref):
    model = MODELS.build(copy.deepcopy(ref['meta']['config']))
    model.load_state_dict(ref['inputs']['state_dict'], strict=True)
    return model


def batch(ref, with_gts=True):
    samples = []
    for i, meta in enumerate(ref['inputs']['img_metas']):
        sample = DetDataSample(metainfo={k: tuple(v) for k, v in meta.items()})
        if with_gts:
            sample.gt_instances = InstanceData(bboxes=ref['inputs']['gt_bboxes'][i],
                                               labels=ref['inputs']['gt_labels'][i])
        samples.append(sample)
    return dict(inputs=[img.clone() for img in ref['inputs']['images']], data_samples=samples)


def test_preprocessor_matches_reference(load_ref):
    ref = load_ref('model_tiny')
    model = build_tiny(ref)
    data = model.data_preprocessor(batch(ref))
    torch.testing.assert_close(data['inputs'], ref['outputs']['batch_inputs'], rtol=0, atol=1e-6)
    for sample, meta in zip(data['data_samples'], ref['outputs']['img_metas_after_preprocess']):
        assert sample.pad_shape == tuple(meta['pad_shape'])
        assert sample.batch_input_shape == tuple(meta['batch_input_shape'])


@pytest.mark.parametrize('train_mode', [True, False])
def test_loss_matches_reference(load_ref, train_mode):
    ref = load_ref('model_tiny')
    model = build_tiny(ref)
    model.train(train_mode)
    data = model.data_preprocessor(batch(ref), training=True)
    losses = model(**data, mode='loss')
    out = ref['outputs']
    torch.testing.assert_close(losses['loss_cls'], out['loss_cls'], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(losses['loss_bbox'], out['loss_bbox'], rtol=1e-4, atol=1e-5)
    loss, log_vars = model.parse_losses(losses)
    assert set(log_vars) == {'loss', 'loss_cls', 'loss_bbox'}


def test_predict_matches_reference(load_ref):
    ref = load_ref('model_tiny')
    model = build_tiny(ref).eval()
    data = model.data_preprocessor(batch(ref, with_gts=False))
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        for ours, theirs in zip(feats, ref['outputs']['fpn_feats']):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
        results = model.bbox_head.predict(feats, data['data_samples'], rescale=False)
    for ours, theirs in zip(results, ref['outputs']['pred']):
        assert len(ours) == len(theirs['labels']) == 100
        assert torch.equal(ours.labels, theirs['labels'].long())
        torch.testing.assert_close(ours.bboxes, theirs['bboxes'], rtol=0, atol=1e-3)
        torch.testing.assert_close(ours.scores, theirs['scores'], rtol=0, atol=1e-5)


def test_predict_mode_rescales_to_original_pixels(load_ref):
    ref = load_ref('model_tiny')
    model = build_tiny(ref).eval()
    data = batch(ref, with_gts=False)
    for sample in data['data_samples']:
        sample.set_metainfo(dict(scale_factor=(2.0, 0.5)))
    with torch.no_grad():
        samples = model.test_step(data)
    for sample, theirs in zip(samples, ref['outputs']['pred']):
        expected = theirs['bboxes'] / torch.tensor([2.0, 0.5, 2.0, 0.5])
        torch.testing.assert_close(sample.pred_instances.bboxes, expected, rtol=0, atol=1e-3)


def test_tensor_mode_returns_head_outputs(load_ref):
    ref = load_ref('model_tiny')
    model = build_tiny(ref).eval()
    cls_scores, bbox_preds = model(ref['outputs']['batch_inputs'], mode='tensor')
    assert [tuple(c.shape) for c in cls_scores] == [(2, 36, 16, 24), (2, 36, 8, 12),
                                                    (2, 36, 4, 6), (2, 36, 2, 3), (2, 36, 1, 2)]
    assert bbox_preds[0].shape == (2, 36, 16, 24)


def r50_model_cfg(path):
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.init_cfg = None
    return cfg.model


@pytest.mark.parametrize('path', ['configs/_base_/models/retinanet_r50_fpn.py',
                                  'configs/retinanet_r50_fpn.yaml'])
def test_r50_state_dict_matches_mmdetection_names_and_shapes(path):
    model = MODELS.build(r50_model_cfg(ROOT / path))
    expected = {}
    for line in (ROOT / 'tests/data/mmdet_retinanet_r50_state_dict_keys.txt').read_text().splitlines():
        name, shape = line.split('\t')
        expected[name] = list(eval(shape))
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == expected
    assert sum(p.numel() for p in model.parameters()) == 37_968_692


def tiny_cfg():
    return dict(type='RetinaNet',
                backbone=dict(type='ResNet', depth=18, base_channels=8, out_indices=(1, 2, 3)),
                neck=dict(type='FPN', in_channels=[16, 32, 64], out_channels=16, num_outs=5,
                          add_extra_convs='on_input'),
                bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=16,
                               feat_channels=16, stacked_convs=1))


def test_strides_must_match_neck_levels():
    cfg = tiny_cfg()
    cfg['neck']['num_outs'] = 4
    with pytest.raises(ValueError, match='neck gives 4 feature levels .*'
                       'bbox_head.anchor_generator has 5 strides'):
        MODELS.build(cfg)
    points = dict(tiny_cfg(), type='FCOS')
    points['neck']['num_outs'] = 4
    points['bbox_head'] = dict(type='FCOSHead', num_classes=3, in_channels=16,
                               feat_channels=16, stacked_convs=1, norm_cfg=None)
    with pytest.raises(ValueError, match='bbox_head.strides has 5 strides'):
        MODELS.build(points)


def test_head_in_channels_must_match_neck():
    cfg = tiny_cfg()
    cfg['bbox_head']['in_channels'] = 32
    with pytest.raises(ValueError, match='out_channels=16 but model.bbox_head.in_channels=32'):
        MODELS.build(cfg)


def test_neck_in_channels_must_match_backbone():
    cfg = tiny_cfg()
    cfg['neck']['in_channels'] = [32, 64, 128]
    with pytest.raises(ValueError, match=r'model.backbone \(ResNet\) gives feature maps of '
                                         r'\[16, 32, 64\] channels but model.neck.in_channels='
                                         r'\[32, 64, 128\]'):
        MODELS.build(cfg)


@pytest.mark.parametrize('value', [3.0, '3', True])
def test_num_classes_must_be_an_int(value):
    cfg = tiny_cfg()
    cfg['bbox_head']['num_classes'] = value
    with pytest.raises(TypeError, match='num_classes must be a positive int'):
        MODELS.build(cfg)


def test_yaml_twin_builds_the_identical_model():
    py_cfg, yaml_cfg = (Config.fromfile(str(ROOT / p)) for p in
                        ('configs/retinanet_r50_fpn.py', 'configs/retinanet_r50_fpn.yaml'))
    def plain(d):  # YAML has no tuples
        return json.loads(json.dumps(d.to_dict()))
    assert plain(py_cfg.model) == plain(yaml_cfg.model)
    assert plain(py_cfg.optim_wrapper) == plain(yaml_cfg.optim_wrapper)
    models = []
    for cfg in (py_cfg, yaml_cfg):
        cfg.model.backbone.init_cfg = None
        torch.manual_seed(0)
        models.append(MODELS.build(cfg.model))
    for (name, a), (_, b) in zip(models[0].state_dict().items(), models[1].state_dict().items()):
        assert torch.equal(a, b), name
