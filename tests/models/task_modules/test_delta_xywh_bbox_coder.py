import math
from pathlib import Path

import pytest
import torch

from detkit.models.task_modules import DeltaXYWHBBoxCoder
from detkit.registry import TASK_UTILS

DATA = Path(__file__).resolve().parents[2] / 'data'


@pytest.fixture(scope='module')
def ref():
    return torch.load(DATA / 'bbox_coder.pt', weights_only=True)


@pytest.mark.parametrize('name', ['std1', 'std_0p1_0p2'])
def test_matches_mmdetection_reference(ref, name):
    coder = TASK_UTILS.build(ref['meta']['coder_cfgs'][name])
    assert coder.encode_size == 4
    inputs, out = ref['inputs'], ref['outputs'][name]
    close = dict(rtol=1e-5, atol=1e-5)
    encoded = coder.encode(inputs['pos_anchors'], inputs['pos_gts'])
    assert torch.allclose(encoded, out['encoded'], **close)
    assert torch.allclose(coder.decode(inputs['pos_anchors'], out['encoded']), out['decoded'],
                          **close)
    rand = coder.decode(inputs['rand_anchors'], inputs['rand_deltas'])
    assert torch.allclose(rand, out['rand_decoded'], **close)
    clipped = coder.decode(inputs['rand_anchors'], inputs['rand_deltas'],
                           max_shape=tuple(inputs['max_shape']))
    assert torch.allclose(clipped, out['rand_decoded_clipped'], **close)
    assert not torch.allclose(rand, clipped)


def test_round_trip_and_hand_values():
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    prior = torch.tensor([[0., 0., 10., 20.]])
    gt = torch.tensor([[5., 0., 25., 20.]])
    # centres (5, 10) -> (15, 10), sizes (10, 20) -> (20, 20)
    expected = torch.tensor([[1.0 / 0.1, 0.0, math.log(2.0) / 0.2, 0.0]])
    assert torch.allclose(coder.encode(prior, gt), expected)
    assert torch.allclose(coder.decode(prior, coder.encode(prior, gt)), gt, atol=1e-5)


def test_batched_decode_clips_each_image_to_its_own_shape(ref):
    coder = DeltaXYWHBBoxCoder()
    anchors, deltas = ref['inputs']['rand_anchors'], ref['inputs']['rand_deltas']
    shapes = torch.tensor([[250, 371], [200, 300]])
    batched = coder.decode(anchors.expand(2, -1, -1), deltas.expand(2, -1, -1),
                           max_shape=shapes)
    assert batched.shape == (2, 64, 4)
    for i, (h, w) in enumerate(shapes.tolist()):
        assert torch.equal(batched[i], coder.decode(anchors, deltas, max_shape=(h, w)))
    assert batched[1, :, 0::2].max() <= 300 and batched[1, :, 1::2].max() <= 200
    assert batched[0, :, 0::2].max() > 300
    with pytest.raises(ValueError, match=r'\[B, 2\] max_shape needs \[B, N, 4\] boxes'):
        coder.decode(anchors, deltas, max_shape=shapes)


def test_clamps_and_clip_border_off():
    prior = torch.tensor([[0., 0., 10., 10.]])
    deltas = torch.tensor([[10., 0., 9., -9.]])
    big = math.log(1000 / 16)
    w, h = 10 * math.exp(big), 10 * math.exp(-big)
    out = DeltaXYWHBBoxCoder().decode(prior, deltas)
    assert torch.allclose(out, torch.tensor([[105. - w / 2, 5. - h / 2, 105. + w / 2,
                                              5. + h / 2]]))
    ctr = DeltaXYWHBBoxCoder(add_ctr_clamp=True, ctr_clamp=32).decode(prior, deltas)
    # the centre moves at most 32 px; dh is only clamped from above, so exp(-9)
    h_free = 10 * math.exp(-9)
    assert torch.allclose(ctr, torch.tensor([[37. - w / 2, 5. - h_free / 2, 37. + w / 2,
                                              5. + h_free / 2]]))
    unclipped = DeltaXYWHBBoxCoder(clip_border=False).decode(prior, deltas, max_shape=(20, 20))
    assert torch.equal(unclipped, out)
    assert DeltaXYWHBBoxCoder().decode(prior, deltas, max_shape=(20, 20))[0, 2] == 20


def test_decode_is_differentiable():
    prior = torch.tensor([[2., 2., 12., 12.], [5., 5., 15., 25.]])
    deltas = torch.zeros(2, 4, requires_grad=True)
    DeltaXYWHBBoxCoder().decode(prior, deltas, max_shape=(100, 100)).sum().backward()
    # d(x1 + x2)/d(dx) = 2 * width; d(x1 + x2 + y1 + y2)/d(dw) = 0 (the box grows both ways)
    assert deltas.grad.tolist() == [[20., 20., 0., 0.], [20., 40., 0., 0.]]


def test_bad_arguments():
    with pytest.raises(ValueError, match='DeltaXYWHBBoxCoder needs 4 target_means'):
        DeltaXYWHBBoxCoder(target_stds=(1., 1., 1.))
    with pytest.raises(ValueError, match='DeltaXYWHBBoxCoder target_stds must be positive'):
        DeltaXYWHBBoxCoder(target_stds=(1., 0., 1., 1.))
    with pytest.raises(ValueError, match=r'encode expects \[\.\.\., 4\] boxes'):
        DeltaXYWHBBoxCoder().encode(torch.zeros(2, 5), torch.zeros(2, 5))
