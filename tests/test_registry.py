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
