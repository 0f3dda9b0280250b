"""Boxes, ignore flags and metadata stay consistent through the transforms."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detkit.datasets.transforms import RandomFlip, Resize

sizes = st.integers(min_value=8, max_value=96)


@st.composite
def scenes(draw):
    w, h = draw(sizes), draw(sizes)
    n = draw(st.integers(0, 6))
    coords = draw(st.lists(st.tuples(*[st.floats(0, 1)] * 4), min_size=n, max_size=n))
    boxes = np.array([[min(a, c) * w, min(b, d) * h, max(a, c) * w, max(b, d) * h]
                      for a, b, c, d in coords], np.float32).reshape(-1, 4)
    return dict(img=np.zeros((h, w, 3), np.uint8), img_shape=(h, w), ori_shape=(h, w),
                gt_bboxes=boxes, gt_bboxes_labels=np.arange(n, dtype=np.int64),
                gt_ignore_flags=np.arange(n) % 2 == 0)


def _inside(out):
    h, w = out['img'].shape[:2]
    b = out['gt_bboxes']
    return ((b >= 0).all() and (b[:, 0::2] <= w).all() and (b[:, 1::2] <= h).all()
            and (b[:, 2:] >= b[:, :2]).all())


@settings(max_examples=60, deadline=None)
@given(scenes(), st.sampled_from(['horizontal', 'vertical', 'diagonal']))
def test_flip_twice_is_identity(scene, direction):
    flip = RandomFlip(prob=1.0, direction=direction)
    once = flip({k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in scene.items()})
    assert _inside(once)
    twice = flip(once)
    np.testing.assert_allclose(twice['gt_bboxes'], scene['gt_bboxes'], atol=1e-4)
    assert (twice['img'] == scene['img']).all()


@settings(max_examples=60, deadline=None)
@given(scenes(), st.tuples(sizes, sizes), st.booleans(), st.booleans())
def test_resize_then_flip_maps_back_to_the_original_boxes(scene, scale, keep_ratio, flip):
    original = scene['gt_bboxes'].copy()
    labels, ignore = scene['gt_bboxes_labels'].copy(), scene['gt_ignore_flags'].copy()
    out = Resize(scale=scale, keep_ratio=keep_ratio)(scene)
    out = RandomFlip(prob=float(flip))(out)
    assert _inside(out)
    assert out['img_shape'] == out['img'].shape[:2]
    boxes = out['gt_bboxes']
    if out['flip']:  # un-flip in the resized image, as a caller would
        w = out['img_shape'][1]
        boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
    back = boxes / np.array(out['scale_factor'] * 2, np.float32)
    np.testing.assert_allclose(back, original, atol=1e-3)
    assert (out['gt_bboxes_labels'] == labels).all() and (out['gt_ignore_flags'] == ignore).all()
