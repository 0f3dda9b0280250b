import numpy as np
import pytest
from PIL import Image

from detkit.datasets.transforms import CorruptImageError, LoadAnnotations, LoadImageFromFile


def save(tmp_path, array, name, **kwargs):
    path = str(tmp_path / name)
    Image.fromarray(array).save(path, **kwargs)
    return path


def test_colour_png_becomes_bgr_uint8(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 200  # red
    out = LoadImageFromFile()(dict(img_path=save(tmp_path, rgb, 'a.png')))
    assert out['img'].dtype == np.uint8 and out['img'].shape == (6, 8, 3)
    assert out['img'][0, 0].tolist() == [0, 0, 200]
    assert out['img_shape'] == out['ori_shape'] == (6, 8)


def test_grayscale_gets_three_equal_channels(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    img = LoadImageFromFile()(dict(img_path=save(tmp_path, gray, 'g.png')))['img']
    assert img.shape == (6, 8, 3)
    assert (img == gray[..., None]).all()


def test_alpha_is_dropped(tmp_path):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 90, 10  # blue, nearly transparent
    img = LoadImageFromFile()(dict(img_path=save(tmp_path, rgba, 'a.png')))['img']
    assert img.shape == (6, 8, 3) and img[0, 0].tolist() == [90, 0, 0]


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 8 wide x 6 tall, shown rotated 90 degrees
    path = save(tmp_path, np.zeros((6, 8, 3), np.uint8), 'r.jpg', exif=exif.tobytes())
    out = LoadImageFromFile()(dict(img_path=path))
    assert out['img'].shape == (8, 6, 3) and out['ori_shape'] == (8, 6)


def test_to_float32(tmp_path):
    path = save(tmp_path, np.zeros((6, 8, 3), np.uint8), 'a.png')
    assert LoadImageFromFile(to_float32=True)(dict(img_path=path))['img'].dtype == np.float32


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='Image file not found: .*none.png'):
        LoadImageFromFile()(dict(img_path=str(tmp_path / 'none.png')))
    for content in (b'', b'garbage bytes'):
        bad = tmp_path / 'bad.jpg'
        bad.write_bytes(content)
        with pytest.raises(CorruptImageError, match=f'Cannot decode image {bad}'):
            LoadImageFromFile()(dict(img_path=str(bad)))


def test_size_disagreeing_with_the_annotation_is_reported(tmp_path, log_messages):
    path = save(tmp_path, np.zeros((6, 8, 3), np.uint8), 'a.png')
    LoadImageFromFile()(dict(img_path=path, width=8, height=6))
    LoadImageFromFile()(dict(img_path=path, width=10, height=6))
    assert [m for m in log_messages if 'a.png is 8x6 (WxH) but its annotation says 10x6' in m]


def test_load_annotations_arrays():
    out = LoadAnnotations()(dict(instances=[
        dict(bbox=[1, 2, 3, 4], bbox_label=2, ignore_flag=0),
        dict(bbox=[0, 0, 5, 5], bbox_label=0, ignore_flag=1)]))
    assert out['gt_bboxes'].dtype == np.float32 and out['gt_bboxes'].shape == (2, 4)
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_bboxes_labels'].tolist() == [2, 0]
    assert out['gt_ignore_flags'].dtype == bool
    assert out['gt_ignore_flags'].tolist() == [False, True]


def test_load_annotations_without_instances_gives_empty_arrays():
    out = LoadAnnotations()(dict(instances=[]))
    assert out['gt_bboxes'].shape == (0, 4) and out['gt_bboxes_labels'].shape == (0,)
    assert out['gt_ignore_flags'].shape == (0,)
