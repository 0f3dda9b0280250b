"""docs/configs.md's annotated RetinaNet config is the real one."""
from mmengine.config import Config

from .doc_blocks import DOCS, REPO, code_blocks


def test_annotated_block_is_the_base_model_config(tmp_path):
    (block,) = [b for b in code_blocks(DOCS / 'configs.md', 'python')
                if b.startswith('model = dict(')]
    written = tmp_path / 'annotated.py'
    written.write_text(block)
    ours = Config.fromfile(written)
    real = Config.fromfile(REPO / 'configs' / '_base_' / 'models' / 'retinanet_r50_fpn.py')
    assert ours.model.to_dict() == real.model.to_dict()


def test_inheritance_example_changes_only_what_it_says(tmp_path):
    (block,) = [b for b in code_blocks(DOCS / 'configs.md', 'python')
                if b.startswith('_base_ = ')]
    written = tmp_path / 'configs' / 'example.py'
    written.parent.mkdir()
    (tmp_path / 'configs' / 'retinanet_r50_fpn.py').symlink_to(
        REPO / 'configs' / 'retinanet_r50_fpn.py')
    (tmp_path / 'configs' / '_base_').symlink_to(REPO / 'configs' / '_base_')
    written.write_text(block)
    ours = Config.fromfile(written)
    base = Config.fromfile(REPO / 'configs' / 'retinanet_r50_fpn.py')
    assert ours.model.bbox_head.num_classes == 20
    assert ours.optim_wrapper.optimizer.lr == 0.005
    assert ours.optim_wrapper.optimizer.momentum == base.optim_wrapper.optimizer.momentum
    ours.model.bbox_head.num_classes = 80
    assert ours.model.to_dict() == base.model.to_dict()
