"""Registries: children of mmengine's, nn layers registered, helpful unknown-type errors."""
import mmengine.registry as mm
import pytest

from detkit import registry
from detkit.registry import MODELS, TASK_UTILS, UnknownTypeError


def test_every_registry_is_a_detkit_child_of_mmengines_root():
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'TASK_UTILS', 'METRICS', 'HOOKS',
                 'OPTIMIZERS', 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'LOOPS', 'VISUALIZERS',
                 'VISBACKENDS', 'DATA_SAMPLERS', 'RUNNERS', 'EVALUATOR', 'LOG_PROCESSORS',
                 'WEIGHT_INITIALIZERS', 'MODEL_WRAPPERS'):
        child = getattr(registry, name)
        assert child.parent is getattr(mm, name), name
        assert child.scope == 'detkit'
        assert child.name in child.parent.children['detkit'].name


@pytest.mark.parametrize('name', ['ReLU', 'BN', 'GN', 'SyncBN', 'Conv2d', 'LeakyReLU'])
def test_torch_layers_are_registered(name):
    assert MODELS.get(name) is not None


def test_layers_build_from_config():
    relu = MODELS.build(dict(type='ReLU', inplace=True))
    assert relu.inplace
    gn = MODELS.build(dict(type='GN', num_groups=4, num_channels=16))
    assert gn.num_groups == 4


def test_unknown_type_names_the_registry_and_suggests():
    with pytest.raises(UnknownTypeError) as err:
        MODELS.build(dict(type='FocalLos'))
    msg = str(err.value)
    assert '"FocalLos"' in msg and '"model" registry' in msg
    assert 'Did you mean "FocalLoss"' in msg


def test_unknown_type_in_task_utils_suggests_case_insensitively():
    with pytest.raises(UnknownTypeError, match='Did you mean "MaxIoUAssigner"'):
        TASK_UTILS.build(dict(type='maxiouassigner', pos_iou_thr=0.5, neg_iou_thr=0.4))


def test_unknown_type_without_close_names_says_how_to_register():
    with pytest.raises(UnknownTypeError, match='register_module'):
        MODELS.build(dict(type='Zzzzqqqq'))


def test_mmengine_components_are_reachable_from_detkit_scope():
    from detkit.registry import OPTIMIZERS, PARAM_SCHEDULERS
    assert OPTIMIZERS.get('SGD') is not None
    assert PARAM_SCHEDULERS.get('MultiStepLR') is not None


def head_cfg(**loss_cls):
    return dict(type='RetinaNet',
                backbone=dict(type='ResNet', depth=18, base_channels=8, out_indices=(1, 2, 3)),
                neck=dict(type='FPN', in_channels=[16, 32, 64], out_channels=16, num_outs=5,
                          add_extra_convs='on_input'),
                bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=16,
                               feat_channels=16, stacked_convs=1,
                               loss_cls=dict(type='FocalLoss', **loss_cls)))


def test_unknown_type_error_names_the_config_path():
    cfg = head_cfg()
    cfg['bbox_head']['loss_cls']['type'] = 'FocalLos'
    with pytest.raises(UnknownTypeError) as err:
        MODELS.build(cfg)
    assert 'config "model.bbox_head.loss_cls"' in str(err.value)
    assert 'Did you mean "FocalLoss"' in str(err.value)


def test_unexpected_key_names_component_path_key_and_accepted_arguments():
    from detkit.registry import ConfigArgumentError
    with pytest.raises(ConfigArgumentError) as err:
        MODELS.build(head_cfg(gama=2.0))
    msg = str(err.value)
    assert 'FocalLoss (config "model.bbox_head.loss_cls") does not accept the key "gama"' in msg
    assert 'Did you mean "gamma"' in msg and 'accepts: use_sigmoid, gamma, alpha' in msg


def test_unexpected_key_of_a_subclass_lists_parent_arguments_too():
    from detkit.registry import ConfigArgumentError
    cfg = head_cfg()
    cfg['bbox_head']['num_clases'] = 3
    with pytest.raises(ConfigArgumentError) as err:
        MODELS.build(cfg)
    msg = str(err.value)
    assert 'RetinaHead (config "model.bbox_head")' in msg
    assert 'stacked_convs' in msg and 'anchor_generator' in msg  # RetinaHead's and AnchorHead's
