"""Every shipped config builds on the installed torch/torchvision/mmengine.

Part of the smoke subset that tools/compat_check.sh runs on other torch
releases: a layer, keyword or transform missing from an older release fails
here, before any training.
"""
from pathlib import Path

import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from detkit.registry import MODELS
from detkit.utils import load_config

CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[2] / 'configs').iterdir()
                 if p.suffix in ('.py', '.yaml'))


def test_the_configs_are_found():
    assert {p.name for p in CONFIGS} >= {'retinanet_r18_fpn_synthetic.py',
                                         'retinanet_r50_fpn.py', 'retinanet_r50_fpn.yaml'}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_builds_model_and_pipelines(path):
    cfg = load_config(str(path))
    init_default_scope(cfg.get('default_scope', 'detkit'))
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        cls_scores, bbox_preds = model(torch.zeros(1, 3, 64, 64), mode='tensor')
    num_anchors = model.bbox_head.num_base_priors
    assert len(cls_scores) == len(bbox_preds) == len(model.bbox_head.prior_generator.strides)
    assert cls_scores[0].shape[:2] == (1, num_anchors * model.bbox_head.num_classes)
    assert bbox_preds[0].shape[:2] == (1, num_anchors * 4)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        assert len(Compose(pipeline).transforms) == len(pipeline), loader
