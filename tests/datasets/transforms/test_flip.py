import numpy as np
import pytest

from detkit.datasets.transforms import RandomFlip


def results():
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    return dict(img=img, img_shape=(4, 6), gt_bboxes=np.array([[1, 0, 3, 2]], np.float32))


@pytest.mark.parametrize('direction, box, img_index', [
    ('horizontal', [3, 0, 5, 2], np.s_[:, ::-1]),
    ('vertical', [1, 2, 3, 4], np.s_[::-1]),
    ('diagonal', [3, 2, 5, 4], np.s_[::-1, ::-1]),
])
def test_flip_moves_image_and_boxes(direction, box, img_index):
    out = RandomFlip(prob=1.0, direction=direction)(results())
    assert out['flip'] is True and out['flip_direction'] == direction
    assert out['gt_bboxes'].tolist() == [box]
    assert (out['img'] == results()['img'][img_index]).all()
    assert out['img'].flags['C_CONTIGUOUS']


def test_no_flip_sets_the_flags():
    out = RandomFlip(prob=0.0)(results())
    assert out['flip'] is False and out['flip_direction'] is None
    assert out['gt_bboxes'].tolist() == [[1, 0, 3, 2]]


def test_prob_and_direction_list():
    np.random.seed(0)
    t = RandomFlip(prob=0.5, direction=['horizontal', 'vertical'])
    seen = [t(results())['flip_direction'] for _ in range(200)]
    assert 70 < seen.count(None) < 130
    assert seen.count('horizontal') > 30 and seen.count('vertical') > 30


def test_arguments_checked():
    with pytest.raises(ValueError, match="direction must be one of"):
        RandomFlip(direction='sideways')
    with pytest.raises(ValueError, match='prob must be in'):
        RandomFlip(prob=1.5)
