import pytest
import torch

from detkit.models.task_modules import AnchorGenerator, DistancePointBBoxCoder
from detkit.registry import TASK_UTILS


@pytest.fixture(scope='module')
def ref(load_ref):
    return load_ref('gfl_losses')


def test_matches_mmdetection_bit_for_bit(ref):
    coder = TASK_UTILS.build(dict(type='DistancePointBBoxCoder'))
    inputs, outputs = ref['inputs'], ref['outputs']['coder']
    points, gts, dist = inputs['coder_points'], inputs['coder_gt'], inputs['coder_dist']
    assert torch.equal(coder.encode(points, gts), outputs['encoded'])
    stride = inputs['coder_stride']
    # GFL: stride units, each side clamped to [0, reg_max - 0.1]
    encoded_gfl = coder.encode(points / stride, gts / stride, 16)
    assert torch.equal(encoded_gfl, outputs['encoded_gfl'])
    assert encoded_gfl.min() >= 0 and encoded_gfl.max() == pytest.approx(15.9)
    assert torch.equal(coder.decode(points, dist), outputs['decoded'])
    clipped = coder.decode(points, dist, max_shape=tuple(inputs['coder_max_shape']))
    assert torch.equal(clipped, outputs['decoded_clipped'])
    assert not torch.equal(clipped, outputs['decoded'])


def test_round_trip_values_and_eps():
    coder = DistancePointBBoxCoder()
    points = torch.tensor([[10., 20.], [0., 0.]])
    boxes = torch.tensor([[4., 5., 30., 22.], [-3., -1., 2., 8.]])
    dist = coder.encode(points, boxes)
    assert dist.tolist() == [[6., 15., 20., 2.], [3., 1., 2., 8.]]
    assert torch.equal(coder.decode(points, dist), boxes)
    assert coder.encode(points, boxes, max_dis=10, eps=1.).tolist() == \
        [[6., 9., 9., 2.], [3., 1., 2., 8.]]


def test_batched_points_and_per_image_max_shape():
    coder = DistancePointBBoxCoder()
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(50, 2, generator=gen) * 100
    dist = torch.rand(3, 50, 4, generator=gen) * 60
    shapes = torch.tensor([[64, 96], [100, 50], [30, 30]])
    batched = coder.decode(points, dist, max_shape=shapes)  # points broadcast over images
    assert batched.shape == (3, 50, 4)
    for i, (h, w) in enumerate(shapes.tolist()):
        assert torch.equal(batched[i], coder.decode(points, dist[i], max_shape=(h, w)))
    boxes = coder.decode(points, dist)
    assert torch.allclose(coder.encode(points, boxes), dist, atol=1e-4)
    with pytest.raises(ValueError, match=r'\[B, 2\] max_shape needs \[B, N, 4\] boxes'):
        coder.decode(points, dist[0], max_shape=shapes)


def test_clip_border_off_and_gradients():
    points = torch.tensor([[5., 5.]])
    dist = torch.tensor([[10., 10., 10., 10.]], requires_grad=True)
    assert DistancePointBBoxCoder(clip_border=False).decode(
        points, dist, max_shape=(8, 8)).tolist() == [[-5., -5., 15., 15.]]
    clipped = DistancePointBBoxCoder().decode(points, dist, max_shape=(8, 8))
    assert clipped.tolist() == [[0., 0., 8., 8.]]
    DistancePointBBoxCoder().decode(points, dist).sum().backward()
    assert dist.grad.tolist() == [[-1., -1., 1., 1.]]


def test_wrong_shapes_are_named():
    coder = DistancePointBBoxCoder()
    with pytest.raises(ValueError, match=r'encode expects points \[..., N, 2\] and gt_bboxes'):
        coder.encode(torch.zeros(3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r'decode expects points .* pred_bboxes \[..., N, 4\]'):
        coder.decode(torch.zeros(3, 2), torch.zeros(3, 2))


def test_gfl_head_dfl_targets_bit_for_bit(load_ref):
    """GFLHead: dfl_targets = encode(anchor centre / stride, gt / stride, max_dis=reg_max)."""
    head = load_ref('gfl_head')
    targets = head['outputs']['targets']
    anchors = AnchorGenerator(strides=[8, 16, 32, 64, 128], ratios=[1.0], octave_base_scale=8,
                              scales_per_octave=1).grid_priors(
        [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)])
    coder = DistancePointBBoxCoder()
    for level, stride in enumerate((8, 16, 32)):
        index = targets['pos_index'][level]
        level_anchors = anchors[level][index % anchors[level].size(0)]
        centres = (level_anchors[:, :2] + level_anchors[:, 2:]) / 2 / stride
        gts = targets['pos_bbox_targets'][level] / stride
        assert torch.equal(gts, targets['pos_decode_bbox_targets'][level])
        assert torch.equal(coder.encode(centres, gts, 16), targets['dfl_targets'][level])
