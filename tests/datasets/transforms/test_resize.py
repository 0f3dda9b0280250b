import numpy as np
import pytest

from detkit.datasets.transforms import RandomChoiceResize, RandomResize, Resize
from detkit.datasets.transforms.resize import target_size


def results(w=64, h=48, boxes=((8, 4, 40, 44),)):
    return dict(img=np.zeros((h, w, 3), np.uint8), img_shape=(h, w), ori_shape=(h, w),
                gt_bboxes=np.array(boxes, np.float32).reshape(-1, 4))


def test_keep_ratio_fits_long_and_short_side():
    # as MMDetection: long side <= 1333 and short side <= 800
    assert target_size(640, 480, (1333, 800), True) == (1067, 800)
    assert target_size(480, 640, (1333, 800), True) == (800, 1067)
    assert target_size(1000, 200, (1333, 800), True) == (1333, 267)
    assert target_size(640, 480, (1333, 800), False) == (1333, 800)


def test_resize_sets_shape_scale_factor_and_scales_boxes():
    out = Resize(scale=(32, 32))(results())
    assert out['img'].shape == (24, 32, 3)
    assert out['img_shape'] == (24, 32) and out['ori_shape'] == (48, 64)
    assert out['scale_factor'] == (0.5, 0.5)
    assert out['gt_bboxes'].tolist() == [[4.0, 2.0, 20.0, 22.0]]


def test_resize_without_keep_ratio_and_by_factor():
    out = Resize(scale=(32, 96), keep_ratio=False)(results())
    assert out['img_shape'] == (96, 32) and out['scale_factor'] == (0.5, 2.0)
    assert out['gt_bboxes'].tolist() == [[4.0, 8.0, 20.0, 88.0]]
    out = Resize(scale_factor=1.5)(results())
    assert out['img_shape'] == (72, 96) and out['scale_factor'] == (1.5, 1.5)
    out = Resize(scale_factor=(2.0, 0.5), keep_ratio=False)(results())
    assert out['img_shape'] == (24, 128)


def test_chained_resizes_compose_the_scale_factor():
    out = Resize(scale=(64, 64), keep_ratio=False)(Resize(scale=(32, 32))(results()))
    assert out['scale_factor'] == (1.0, 64 / 48)
    back = out['gt_bboxes'] / np.array(out['scale_factor'] * 2, np.float32)
    np.testing.assert_allclose(back, results()['gt_bboxes'], atol=1e-4)


def test_boxes_clipped_to_the_resized_image():
    out = Resize(scale=(32, 32))(results(boxes=((-4, -2, 70, 50),)))
    assert out['gt_bboxes'].tolist() == [[0.0, 0.0, 32.0, 24.0]]


def test_resize_arguments_checked():
    with pytest.raises(ValueError, match='exactly one of scale'):
        Resize()
    with pytest.raises(ValueError, match='exactly one of scale'):
        Resize(scale=(10, 10), scale_factor=2.0)
    with pytest.raises(ValueError, match='one float scale_factor'):
        Resize(scale_factor=(2.0, 1.0))
    with pytest.raises(ValueError, match='interpolation must be one of'):
        Resize(scale=(10, 10), interpolation='lanczos9')


def test_random_resize_draws_within_the_range():
    np.random.seed(0)
    t = RandomResize(scale=[(60, 30), (100, 50)], keep_ratio=False)
    shapes = {t(results())['img_shape'] for _ in range(30)}
    assert len(shapes) > 5
    assert all(30 <= h <= 50 and 60 <= w <= 100 for h, w in shapes)


def test_random_resize_ratio_range():
    np.random.seed(0)
    t = RandomResize(scale=(64, 48), ratio_range=(0.5, 2.0), keep_ratio=True)
    for _ in range(10):
        out = t(results())
        h, w = out['img_shape']
        assert 24 <= h <= 96 and abs(w / h - 64 / 48) < 0.05
        assert out['scale_factor'] == (w / 64, h / 48)
    with pytest.raises(ValueError, match='two scales'):
        RandomResize(scale=(64, 48))


def test_random_choice_resize_picks_one_of_the_scales():
    np.random.seed(0)
    t = RandomChoiceResize(scales=[(32, 32), (128, 128)])
    shapes = {t(results())['img_shape'] for _ in range(20)}
    assert shapes == {(24, 32), (96, 128)}
