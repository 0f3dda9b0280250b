import pytest
import torch

from detkit.models.task_modules import AnchorGenerator, MlvlPointGenerator
from detkit.registry import TASK_UTILS

SIZES = [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]


@pytest.fixture
def fcos():
    return TASK_UTILS.build(dict(type='MlvlPointGenerator', strides=[8, 16, 32, 64, 128]))


def test_points_match_mmdetection_bit_for_bit(fcos, load_ref):
    points = fcos.grid_priors(SIZES)
    expected = load_ref('fcos_head')['outputs']['targets']['points']
    assert [p.shape for p in points] == [(h * w, 2) for h, w in SIZES]
    for ours, theirs in zip(points, expected):
        assert torch.equal(ours, theirs)
    # ((x + 0.5) * stride, (y + 0.5) * stride), row-major
    assert points[1][:2].tolist() == [[8., 8.], [24., 8.]]
    assert points[1][24].tolist() == [8., 24.]
    assert fcos.num_levels == 5 and fcos.num_base_priors == [1] * 5
    assert fcos.strides == [(8, 8), (16, 16), (32, 32), (64, 64), (128, 128)]


def test_with_stride_offset_and_rectangular_strides():
    gen = MlvlPointGenerator(strides=[(8, 4)], offset=0.)
    points = gen.grid_priors([(2, 3)], with_stride=True)[0]
    assert points.tolist() == [[0., 0., 8., 4.], [8., 0., 8., 4.], [16., 0., 8., 4.],
                               [0., 4., 8., 4.], [8., 4., 8., 4.], [16., 4., 8., 4.]]
    assert torch.equal(gen.grid_priors([(2, 3)])[0], points[:, :2])
    half = gen.grid_priors([(2, 3)], dtype=torch.float16)[0]
    assert half.dtype == torch.float16 and torch.equal(half.float(), points[:, :2])


def test_grid_priors_are_cached_per_size_dtype_device_and_stride_flag(fcos):
    first = fcos.grid_priors(SIZES)
    assert all(a is b for a, b in zip(first, fcos.grid_priors(SIZES)))
    assert fcos.grid_priors(SIZES, with_stride=True)[0].shape == (1536, 4)
    assert fcos.grid_priors(SIZES)[0] is first[0]
    for n in range(MlvlPointGenerator.cache_size + 2):
        fcos.grid_priors([(n + 1, 1)] * 5)
    assert len(fcos._grid_cache) == MlvlPointGenerator.cache_size


def test_valid_flags_follow_the_pad_shape_like_anchors():
    points = MlvlPointGenerator([8, 16, 32, 64, 128])
    flags = points.batch_valid_flags(SIZES, [(256, 384), (224, 320), (200, 300)])
    assert flags.shape == (3, 2046)
    assert flags.sum(dim=1).tolist() == [2046, 1120 + 280 + 70 + 20 + 6, 950 + 247 + 70 + 20 + 6]
    # one prior per location: the same flags as 1-anchor ATSS anchors
    anchors = AnchorGenerator([8, 16, 32, 64, 128], ratios=[1.0], scales=[8.])
    assert torch.equal(flags, anchors.batch_valid_flags(SIZES, [(256, 384), (224, 320),
                                                                (200, 300)]))
    per_level = points.valid_flags(SIZES, (224, 320))
    assert [f.shape[0] for f in per_level] == [1536, 384, 96, 24, 6]
    assert torch.equal(torch.cat(per_level), flags[1])


def test_sparse_priors_pick_points_by_flat_index(fcos):
    dense = fcos.grid_priors(SIZES)[2]
    idx = torch.tensor([0, 13, 95, 50])
    assert torch.equal(fcos.sparse_priors(idx, SIZES[2], 2), dense[idx])


def test_bad_arguments_are_named(fcos):
    with pytest.raises(ValueError, match=r'MlvlPointGenerator offset must be in \[0, 1\]'):
        MlvlPointGenerator([8], offset=2)
    with pytest.raises(ValueError, match='MlvlPointGenerator needs at least one stride'):
        MlvlPointGenerator([])
    with pytest.raises(ValueError, match=r'MlvlPointGenerator stride must be a number or a'):
        MlvlPointGenerator([(8, 8, 8)])
    with pytest.raises(ValueError, match='MlvlPointGenerator has 5 levels .* got 2 featmap sizes'):
        fcos.grid_priors(SIZES[:2])
    assert repr(MlvlPointGenerator([8], offset=0.)) == \
        'MlvlPointGenerator(strides=[(8, 8)], offset=0.0)'
