"""Config mistakes cost seconds: each error names the file/line or the config path and the fix."""
from pathlib import Path

import pytest
from mmengine.config import Config

from detkit.registry import MODELS, ConfigArgumentError, UnknownTypeError
from detkit.utils import ConfigFileError, check_num_classes, load_config

ROOT = Path(__file__).parents[2]
DEMO = str(ROOT / 'configs/retinanet_r18_fpn_synthetic.py')


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigFileError, match='config file not found: .*nope.py'):
        load_config(str(tmp_path / 'nope.py'))


def test_python_syntax_error_gives_file_and_line(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text("model = dict(\n    type='RetinaNet',\n    depth = = 3)\n")
    with pytest.raises(ConfigFileError, match=r'bad.py:3:\d+: invalid syntax'):
        load_config(str(bad))


def test_syntax_error_in_a_base_file_names_the_base(tmp_path):
    (tmp_path / 'base.py').write_text('x = (1,\n')
    (tmp_path / 'top.py').write_text("_base_ = ['base.py']\ny = 2\n")
    with pytest.raises(ConfigFileError, match=r'base.py:1:\d+'):
        load_config(str(tmp_path / 'top.py'))


def test_missing_base_file_is_named(tmp_path):
    (tmp_path / 'top.py').write_text("_base_ = ['missing_base.py']\n")
    with pytest.raises(ConfigFileError, match='_base_ file .*missing_base.py does not exist'):
        load_config(str(tmp_path / 'top.py'))


def test_yaml_parse_error_gives_file_line_and_column(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('model:\n  type: RetinaNet\n  ratios: [0.5, 1.0\n')
    with pytest.raises(ConfigFileError, match=r'bad.yaml:4:1: did not find expected'):
        load_config(str(bad))


def test_yaml_is_loaded_with_the_safe_loader(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.yaml'
    evil.write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigFileError, match='could not determine a constructor'):
        load_config(str(evil))
    assert not marker.exists()


def test_unknown_type_in_a_config_file_names_path_and_suggestion():
    cfg = load_config(DEMO, {'model.bbox_head.loss_cls.type': 'FocalLos'})
    with pytest.raises(UnknownTypeError) as err:
        MODELS.build(cfg.model)
    assert 'config "model.bbox_head.loss_cls"' in str(err.value)
    assert 'Did you mean "FocalLoss"' in str(err.value)


def test_unexpected_key_in_a_config_file_lists_accepted_arguments():
    cfg = load_config(DEMO, {'model.neck.out_channel': 64})
    with pytest.raises(ConfigArgumentError) as err:
        MODELS.build(cfg.model)
    msg = str(err.value)
    assert 'FPN (config "model.neck") does not accept the key "out_channel"' in msg
    assert 'Did you mean "out_channels"' in msg and 'accepts: in_channels, out_channels' in msg


def test_num_classes_must_match_the_dataset_classes():
    cfg = load_config(DEMO, {'model.bbox_head.num_classes': 80})
    with pytest.raises(ValueError, match='num_classes=80 but the dataset .* has 5 classes'):
        check_num_classes(cfg)
    check_num_classes(load_config(DEMO))


def test_num_classes_checked_against_a_class_subset():
    cfg = Config.fromfile(str(ROOT / 'configs/retinanet_r50_fpn.py'))
    cfg.train_dataloader.dataset.metainfo = dict(classes=('person', 'car'))
    with pytest.raises(ValueError, match='has 2 classes: set model.bbox_head.num_classes=2'):
        check_num_classes(cfg)


@pytest.mark.parametrize('key,value,error,match', [
    ('model.bbox_head.num_classes', 4.5, TypeError, 'num_classes must be a positive int'),
    ('model.bbox_head.anchor_generator.ratios', [], ValueError, 'ratios'),
    ('model.neck.num_outs', 4, ValueError, 'neck gives 4 feature levels'),
])
def test_wrong_values_are_caught_when_the_model_is_built(key, value, error, match):
    cfg = load_config(DEMO, {key: value})
    with pytest.raises(error, match=match):
        MODELS.build(cfg.model)
