"""docs/backbones.md: its config blocks build the models it says, its error is the real one."""
import re

import pytest
from mmengine.config import Config

from detkit.registry import MODELS
from .doc_blocks import DOCS, REPO, code_blocks

PAGE = DOCS / 'backbones.md'
BLOCKS = code_blocks(PAGE, 'python')


def _on_r50(block: str, tmp_path) -> Config:
    """The block as a change to configs/retinanet_r50_fpn.py."""
    path = tmp_path / 'doc_block.py'
    path.write_text(f"_base_ = [{str(REPO / 'configs' / 'retinanet_r50_fpn.py')!r}]\n" + block)
    return Config.fromfile(str(path))


def test_the_page_has_its_blocks():
    assert len(BLOCKS) == 4


# block 0 is the x101 config's backbone (below), whose model tests/models/backbones builds
@pytest.mark.parametrize('index, backbone, neck_in', [
    (1, 'ResNet', [256, 512, 1024, 2048]),
    (2, 'TorchvisionBackbone', [192, 384, 768]),
    (3, 'ResNet', [256, 512, 1024, 2048]),
])
def test_block_builds_a_wired_model(tmp_path, index, backbone, neck_in):
    cfg = _on_r50(BLOCKS[index], tmp_path)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == backbone
    assert model.backbone.out_channels == model.neck.in_channels == neck_in


def test_resnext_block_is_the_x101_configs_backbone(tmp_path):
    ours = _on_r50(BLOCKS[0], tmp_path).model.backbone.to_dict()
    real = Config.fromfile(str(REPO / 'configs' / 'retinanet' /
                               'retinanet_x101-64x4d_fpn_1x_coco.py')).model.backbone.to_dict()
    ours.pop('init_cfg'), real.pop('init_cfg')
    assert ours == real


def test_the_wiring_error_is_the_real_message():
    (shown,) = code_blocks(PAGE, 'text')
    with pytest.raises(ValueError) as err:
        MODELS.build(dict(
            type='RetinaNet',
            backbone=dict(type='TorchvisionBackbone', model_name='mobilenet_v3_small',
                          out_indices=(1, 2, 3)),
            neck=dict(type='FPN', in_channels=[40, 112, 1280], out_channels=16, num_outs=5),
            bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=16, feat_channels=16,
                           stacked_convs=1)))
    def words(text):
        return re.sub(r'\s+', ' ', text).strip()
    assert words(shown) == words(f'ValueError: {err.value}')
