"""Every shipped config builds on the installed torch/torchvision/mmengine.

Part of the smoke subset that tools/compat_check.sh runs on other torch
releases: a layer, keyword or transform missing from an older release fails
here, before any training.
"""
import math
from pathlib import Path

import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from detkit.registry import MODELS
from detkit.utils import load_config

ROOT = Path(__file__).resolve().parents[2] / 'configs'
CONFIGS = sorted(p for p in ROOT.rglob('*') if p.suffix in ('.py', '.yaml')
                 and '_base_' not in p.relative_to(ROOT).parts)


def test_the_configs_are_found():
    assert {p.name for p in CONFIGS} >= {'retinanet_r18_fpn_synthetic.py',
                                         'retinanet_r50_fpn.py', 'retinanet_r50_fpn.yaml'}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_builds_model_and_pipelines(path):
    cfg = load_config(str(path))
    init_default_scope(cfg.get('default_scope', 'detkit'))
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        outputs = model(torch.zeros(1, 3, 64, 64), mode='tensor')
    head = model.bbox_head
    sizes = [(math.ceil(64 / s[0]), math.ceil(64 / s[1])) for s in head.prior_generator.strides]
    assert len(outputs) >= 2, 'class scores and box predictions per level'
    for per_level in outputs:
        assert [tuple(o.shape[-2:]) for o in per_level] == sizes
        assert all(o.shape[0] == 1 for o in per_level)
    assert outputs[0][0].shape[1] == head.num_base_priors * head.num_classes
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        assert len(Compose(pipeline).transforms) == len(pipeline), loader
