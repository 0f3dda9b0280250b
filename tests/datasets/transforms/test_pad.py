import numpy as np
import pytest

from detkit.datasets.transforms import Pad


def results(h=30, w=50):
    return dict(img=np.ones((h, w, 3), np.uint8), img_shape=(h, w),
                gt_bboxes=np.array([[1, 2, 3, 4]], np.float32))


def test_pad_to_a_multiple():
    out = Pad(size_divisor=32)(results())
    assert out['img'].shape == (32, 64, 3)
    assert out['pad_shape'] == (32, 64) and out['img_shape'] == (30, 50)
    assert out['img'][30:].max() == 0 and out['img'][:, 50:].max() == 0
    assert out['img'][:30, :50].min() == 1
    assert out['gt_bboxes'].tolist() == [[1, 2, 3, 4]]


def test_pad_to_a_size_with_a_value():
    out = Pad(size=(60, 40), pad_val=114)(results())
    assert out['img'].shape == (40, 60, 3) and out['img'][39, 59].tolist() == [114] * 3


def test_already_aligned_image_is_unchanged():
    out = Pad(size_divisor=16)(results(32, 48))
    assert out['img'].shape == (32, 48, 3) and out['pad_shape'] == (32, 48)


def test_errors():
    with pytest.raises(ValueError, match='exactly one of size'):
        Pad()
    with pytest.raises(ValueError, match='smaller than the image'):
        Pad(size=(10, 10))(results())
