"""Default initialisation against MMDetection 3.3.0's, statistically (tests/data/train_steps.pt).

For each layer type the reference stores the rule (``meta.init_rules``), the
mean and std it implies (``init_expected``) and what mmdet's own init gave
for seeds 0, 1, 2 (``init_stats``, ``init_kurtosis``). detkit draws in its
own order, so the values differ; the distributions must not: constants
exactly, random tensors' std within 5 standard errors of the rule, mean
within 5 standard errors of 0, and the excess kurtosis telling normal
(0) from uniform (-1.2) apart.
"""
import copy
import math
import re

import pytest
import torch

from detkit.registry import MODELS

SEEDS = (0, 1, 2)

# layer type -> (regex over parameter names, distribution family); checked
# to cover every parameter and to agree with the reference's own rule text.
LAYER_TYPES = {
    'resnet_conv': (r'backbone\.(conv1|layer\d\.\d\.(conv\d|downsample\.0))\.weight', 'normal'),
    'resnet_bn': (r'backbone\.(bn1|layer\d\.\d\.(bn1|downsample\.1))\.(weight|bias)', 'constant'),
    'resnet_bn2_zero_init': (r'backbone\.layer\d\.\d\.bn2\.(weight|bias)', 'constant'),
    'fpn_conv': (r'neck\..*\.weight', 'uniform'),
    'head_conv': (r'bbox_head\..*\.weight', 'normal'),
    'conv_bias_zero': (r'(neck|bbox_head)\.(?!retina_cls\.).*\.bias', 'constant'),
    'retina_cls_prior_bias': (r'bbox_head\.retina_cls\.bias', 'constant'),
}
RULE_WORDS = {'resnet_conv': 'kaiming_normal_ mode=fan_out', 'resnet_bn': 'Constant',
              'resnet_bn2_zero_init': '0', 'fpn_conv': 'Xavier', 'head_conv': 'Normal',
              'conv_bias_zero': 'bias=0', 'retina_cls_prior_bias': 'bias_prob=0.01'}


def layer_type(name: str) -> str:
    matches = [t for t, (regex, _) in LAYER_TYPES.items() if re.fullmatch(regex, name)]
    assert len(matches) == 1, f'{name} matches layer types {matches}'
    return matches[0]


def excess_kurtosis(x: torch.Tensor) -> float:
    centred = x - x.mean()
    return float((centred ** 4).mean() / (centred ** 2).mean() ** 2 - 3)


@pytest.fixture(scope='module')
def inits(load_ref):
    """seed -> detkit's initial parameters (float64) of the reference's tiny RetinaNet."""
    cfg = load_ref('train_steps')['meta']['config']
    out = {}
    for seed in SEEDS:
        torch.manual_seed(seed)
        model = MODELS.build(copy.deepcopy(cfg))
        model.init_weights()
        out[seed] = {n: p.detach().double().flatten() for n, p in model.named_parameters()}
    return out


def params_of(load_ref, kind: str) -> list:
    return [n for n in load_ref('train_steps')['outputs']['init_expected'] if layer_type(n) == kind]


def test_layer_types_cover_every_parameter_and_match_the_rules(load_ref, inits):
    ref = load_ref('train_steps')
    assert set(inits[0]) == set(ref['outputs']['init_expected'])
    for name, rule in ref['meta']['init_rules'].items():
        assert RULE_WORDS[layer_type(name)] in rule, (name, rule)
        family = LAYER_TYPES[layer_type(name)][1]
        assert (ref['outputs']['init_expected'][name][1] == 0) == (family == 'constant'), name


@pytest.mark.parametrize('kind', [k for k, (_, f) in LAYER_TYPES.items() if f == 'constant'])
def test_constant_inits_equal_mmdetection(load_ref, inits, kind):
    expected = load_ref('train_steps')['outputs']['init_expected']
    for name in params_of(load_ref, kind):
        value = expected[name][0]
        for seed in SEEDS:
            assert torch.allclose(inits[seed][name], torch.full_like(inits[seed][name], value),
                                  rtol=1e-7, atol=0), f'{name} seed {seed}: not {value}'


@pytest.mark.parametrize('kind', [k for k, (_, f) in LAYER_TYPES.items() if f != 'constant'])
def test_random_inits_have_mmdetections_distribution(load_ref, inits, kind):
    ref = load_ref('train_steps')['outputs']
    family = LAYER_TYPES[kind][1]
    kurt = 0.0 if family == 'normal' else -1.2
    for name in params_of(load_ref, kind):
        mean, std = ref['init_expected'][name]
        for j, seed in enumerate(SEEDS):  # excess kurtosis: normal 0, uniform -1.2
            x = inits[seed][name]
            n = x.numel()
            # standard error of the sample std: std * sqrt((kurt + 2) / (4 n))
            se_std = std * math.sqrt((kurt + 2) / (4 * n))
            ours_std = float(x.std(correction=0))
            assert abs(ours_std - std) <= 5 * se_std, f'{name} seed {seed}: std {ours_std} vs {std}'
            assert abs(float(x.mean()) - mean) <= 5 * std / math.sqrt(n), f'{name} seed {seed}'
            # nearer to its own family's kurtosis than to the other's (0.6 = half the gap)
            ours_kurt = excess_kurtosis(x)
            assert abs(ours_kurt - kurt) < 0.6, f'{name} seed {seed}: kurtosis {ours_kurt}'
            assert abs(ref['init_kurtosis'][j][name] - kurt) < 0.6, name


def test_prior_bias_value():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='RetinaHead', num_classes=4, in_channels=8, feat_channels=8,
                             stacked_convs=1))
    head.init_weights()
    assert torch.allclose(head.retina_cls.bias, torch.full((36,), -math.log(0.99 / 0.01)))
