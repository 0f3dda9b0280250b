import math
from pathlib import Path

import pytest
import torch

from detkit.models.task_modules import AnchorGenerator
from detkit.registry import TASK_UTILS

DATA = Path(__file__).resolve().parents[2] / 'data'
RETINA_CFG = dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                  ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])


@pytest.fixture(scope='module')
def ref():
    return torch.load(DATA / 'anchors.pt', weights_only=True)


@pytest.fixture
def retina():
    return TASK_UTILS.build(RETINA_CFG)


def _sizes(ref):
    return [tuple(s) for s in ref['inputs']['featmap_sizes']]


def test_base_and_grid_anchors_match_mmdetection_bit_for_bit(ref, retina):
    assert retina.num_levels == 5
    assert retina.num_base_priors == [9] * 5
    for ours, theirs in zip(retina.base_anchors, ref['outputs']['base_anchors']):
        assert torch.equal(ours, theirs)
    anchors = retina.grid_priors(_sizes(ref))
    assert [a.shape[0] for a in anchors] == ref['outputs']['num_anchors_per_level']
    for ours, theirs in zip(anchors, ref['outputs']['anchors']):
        assert ours.dtype == torch.float32
        assert torch.equal(ours, theirs)


def test_valid_flags_match_mmdetection_single_and_batched(ref, retina):
    sizes = _sizes(ref)
    pad_shapes = [tuple(p) for p in ref['inputs']['valid_flag_pad_shapes']]
    batched = retina.batch_valid_flags(sizes, pad_shapes)
    assert batched.shape == (3, 18414) and batched.dtype == torch.bool
    assert batched.sum(dim=1).tolist() == [18414, 18126, 13464]
    for i, (h, w) in enumerate(pad_shapes):
        theirs = ref['outputs']['valid_flags'][f'{h}x{w}']
        single = retina.valid_flags(sizes, (h, w))
        assert all(torch.equal(a, b) for a, b in zip(single, theirs))
        assert torch.equal(batched[i], torch.cat(theirs))


def test_valid_flags_ignore_trailing_channel_and_cap_at_feature_size(retina):
    sizes = [(4, 4)] * 5
    # 40 / 8 -> 5 locations, capped at the 4 the feature map has
    flags = retina.batch_valid_flags(sizes, [(40, 12, 3)])
    level0 = flags[0, :4 * 4 * 9].reshape(4, 4, 9)
    assert level0[:, :2].all() and not level0[:, 2:].any()   # x < ceil(12 / 8) = 2
    assert flags.shape == (1, 5 * 16 * 9)


def test_grid_priors_are_cached_per_sizes_dtype_and_device(retina):
    sizes = [(4, 6), (2, 3), (1, 2), (1, 1), (1, 1)]
    first = retina.grid_priors(sizes)
    again = retina.grid_priors(sizes)
    assert all(a is b for a, b in zip(first, again))
    half = retina.grid_priors(sizes, dtype=torch.float16)
    assert half[0].dtype == torch.float16 and half[0] is not first[0]
    assert torch.allclose(half[0].float(), first[0], rtol=0, atol=0.05)
    for n in range(AnchorGenerator.cache_size + 3):
        retina.grid_priors([(n + 1, 1)] * 5)
    assert len(retina._grid_cache) == AnchorGenerator.cache_size


def test_priors_made_in_inference_mode_still_work_under_autograd(retina):
    sizes = [(2, 2)] * 5
    with torch.inference_mode():
        anchors = retina.grid_priors(sizes)
    assert not anchors[0].is_inference()
    scale = torch.ones((), requires_grad=True)
    (retina.grid_priors(sizes)[0] * scale).sum().backward()
    assert scale.grad.item() == pytest.approx(anchors[0].sum().item())


def test_scale_minor_order_explicit_scales_and_base_sizes():
    gen = AnchorGenerator(strides=[8], ratios=[1.0, 4.0], scales=[1.0, 2.0], base_sizes=[10],
                          scale_major=False)
    # index = scale_idx * num_ratios + ratio_idx; ratio 4 -> w = s*10/2, h = s*10*2
    expected = torch.tensor([[-5., -5., 5., 5.], [-2.5, -10., 2.5, 10.],
                             [-10., -10., 10., 10.], [-5., -20., 5., 20.]])
    assert torch.equal(gen.base_anchors[0], expected)
    grid = gen.grid_priors([(1, 2)])[0]
    assert torch.equal(grid[4:], expected + torch.tensor([8., 0., 8., 0.]))


def test_center_offset_centers_and_rectangular_strides():
    offset = AnchorGenerator(strides=[16], ratios=[1.0], scales=[1.0], center_offset=0.5)
    assert offset.base_anchors[0].tolist() == [[0., 0., 16., 16.]]
    centered = AnchorGenerator(strides=[16], ratios=[1.0], scales=[1.0], centers=[(3., 4.)])
    assert centered.base_anchors[0].tolist() == [[-5., -4., 11., 12.]]
    rect = AnchorGenerator(strides=[(8, 4)], ratios=[1.0], scales=[1.0])
    assert rect.base_sizes == [4]
    grid = rect.grid_priors([(2, 2)])[0]
    # location (y=1, x=1) is shifted by (x * stride_w, y * stride_h) = (8, 4)
    assert grid[3].tolist() == [6., 2., 10., 6.]
    flags = rect.batch_valid_flags([(2, 2)], [(4, 9), (5, 8)])
    assert flags.tolist() == [[True, True, False, False], [True, False, True, False]]


def test_octave_scales():
    gen = AnchorGenerator(strides=[8], ratios=[1.0], octave_base_scale=4, scales_per_octave=3)
    widths = gen.base_anchors[0][:, 2] - gen.base_anchors[0][:, 0]
    assert widths.tolist() == pytest.approx([8 * 4 * 2 ** (i / 3) for i in range(3)], rel=1e-6)
    assert math.isclose(widths[2].item(), 50.7968, rel_tol=1e-5)


@pytest.mark.parametrize('kwargs, message', [
    (dict(strides=[8], ratios=[], scales=[1.]), 'ratios must be a non-empty'),
    (dict(strides=[8, 16], ratios=[1.], scales=[1.], base_sizes=[8]), 'one base size per stride'),
    (dict(strides=[8], ratios=[1.], octave_base_scale=4), 'together'),
    (dict(strides=[8], ratios=[1.], scales=[1.], octave_base_scale=4, scales_per_octave=3),
     'not both'),
    (dict(strides=[8], ratios=[1.]), 'needs scales'),
    (dict(strides=[], ratios=[1.], scales=[1.]), 'at least one stride'),
    (dict(strides=[8], ratios=[1.], scales=[1.], center_offset=1.5), r'in \[0, 1\]'),
    (dict(strides=[8], ratios=[1.], scales=[1.], centers=[(0, 0)], center_offset=0.5),
     'not both'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match='AnchorGenerator.*' + message):
        AnchorGenerator(**kwargs)


def test_wrong_number_of_featmap_sizes(retina):
    with pytest.raises(ValueError, match='5 levels .* got 3 featmap sizes'):
        retina.grid_priors([(2, 2)] * 3)
