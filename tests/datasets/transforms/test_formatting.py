import numpy as np
import pytest
import torch

from detkit.datasets.transforms import PackDetInputs
from detkit.structures import DetDataSample


def results():
    img = np.random.RandomState(0).randint(0, 255, (4, 6, 3)).astype(np.uint8)
    return dict(img=img, img_id=3, img_path='x.jpg', ori_shape=(8, 12), img_shape=(4, 6),
                scale_factor=(0.5, 0.5), flip=True, flip_direction='horizontal',
                gt_bboxes=np.array([[0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 4, 4]], np.float32),
                gt_bboxes_labels=np.array([0, 4, 2], np.int64),
                gt_ignore_flags=np.array([False, True, False]))


def test_output_contract():
    r = results()
    out = PackDetInputs()(dict(r))
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 4, 6) and inputs.is_contiguous()
    assert (inputs.permute(1, 2, 0).numpy() == r['img']).all()  # BGR kept
    assert isinstance(sample, DetDataSample)
    assert sample.gt_instances.bboxes.dtype == torch.float32
    assert sample.gt_instances.bboxes.tolist() == [[0, 0, 2, 2], [2, 2, 4, 4]]
    assert sample.gt_instances.labels.dtype == torch.int64
    assert sample.gt_instances.labels.tolist() == [0, 2]
    assert sample.ignored_instances.bboxes.tolist() == [[1, 1, 3, 3]]
    assert sample.metainfo == dict(img_id=3, img_path='x.jpg', ori_shape=(8, 12),
                                   img_shape=(4, 6), scale_factor=(0.5, 0.5), flip=True,
                                   flip_direction='horizontal')


def test_without_annotations_or_resize():
    r = results()
    for key in ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags', 'scale_factor', 'flip',
                'flip_direction'):
        del r[key]
    sample = PackDetInputs()(r)['data_samples']
    assert sample.gt_instances.bboxes.shape == (0, 4)
    assert sample.ignored_instances.bboxes.shape == (0, 4)
    assert sample.scale_factor == (1.0, 1.0) and sample.flip is False
    assert sample.flip_direction is None


def test_meta_keys_select_and_a_missing_one_is_named():
    sample = PackDetInputs(meta_keys=('img_id', 'pad_shape'))(dict(results(), pad_shape=(8, 8)))
    assert sample['data_samples'].metainfo == dict(img_id=3, pad_shape=(8, 8))
    with pytest.raises(KeyError, match="meta key 'pad_shape' is not in the results of x.jpg"):
        PackDetInputs(meta_keys=('img_id', 'pad_shape'))(results())
