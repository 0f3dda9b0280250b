"""Bad data: every message names the file, the entry or the filter at fault."""
import json
import os

import numpy as np
import pytest

from datasets.conftest import build_voc, make_voc, obj
from datasets.test_coco import IMAGES, PIPELINE, ann
from detkit.datasets import CocoDataset
from detkit.datasets.transforms import CorruptImageError


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv('DETKIT_DATA', str(tmp_path / 'cache'))


def test_unknown_class_name_suggests_the_close_one(make_coco, build_coco):
    root = make_coco(IMAGES, [])
    with pytest.raises(ValueError, match=r"'dgo' \(did you mean 'dog'\?\)"):
        build_coco(root, metainfo=dict(classes=('cat', 'dgo')))


def test_default_coco_classes_on_a_custom_file_say_how_to_fix(make_coco):
    root = make_coco(IMAGES, [])
    with pytest.raises(ValueError, match=r'77 of the 80 `classes`.*metainfo=dict\(classes'):
        CocoDataset(data_root=root, ann_file='annotations/ann.json',
                    data_prefix=dict(img='img/'))


def test_empty_after_filtering_names_each_filter_and_count(make_coco, build_coco):
    root = make_coco([(1, 64, 48), (2, 16, 16), (3, 20, 64)],
                     [ann(2, 1, [1, 1, 5, 5]), ann(3, 1, [1, 1, 5, 5])])
    with pytest.raises(ValueError) as err:
        build_coco(root, filter_cfg=dict(filter_empty_gt=True, min_size=32))
    msg = str(err.value)
    assert 'no images left after filtering' in msg
    assert 'Of 3 images' in msg
    assert 'filter_empty_gt=True (images without a usable box of `classes`) removed 1' in msg
    assert 'min_size=32 (images with a side under 32 px) removed 2' in msg


def test_unknown_filter_key_is_an_error(make_coco, build_coco):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10])])
    with pytest.raises(ValueError, match="unknown filter_cfg key.*'min_szie'"):
        build_coco(root, filter_cfg=dict(min_szie=32))


def test_annotation_file_listing_no_images(make_coco, build_coco):
    root = make_coco([], [])
    with pytest.raises(ValueError, match='lists no images'):
        build_coco(root, test_mode=True)


def test_degenerate_and_outside_boxes_dropped_or_clipped_and_counted(make_coco, build_coco,
                                                                      log_messages):
    root = make_coco(IMAGES, [
        ann(1, 1, [10, 5, 0, 10]),      # zero width
        ann(1, 1, [10, 5, 10, -3]),     # negative height
        ann(1, 1, [100, 100, 10, 10]),  # outside the 64x48 image
        ann(1, 1, [-5, 40, 20, 20]),    # partly outside: clipped to [0, 40, 15, 48]
        ann(1, 1, [1, 1, 5, 5]),
        dict(image_id=1, category_id=1),  # no bbox at all
        ann(99, 1, [1, 1, 5, 5]),         # image id not listed
    ])
    ds = build_coco(root, test_mode=True)
    boxes = [i['bbox'] for i in ds.get_data_info(0)['instances']]
    assert boxes == [[0.0, 40.0, 15.0, 48.0], [1.0, 1.0, 6.0, 6.0]]
    warning = [m for m in log_messages if m.startswith('CocoDataset(')]
    assert len(warning) == 1  # once per dataset, with counts
    for part in ('dropped 1 annotation(s) without a valid bbox',
                 'dropped 2 box(es) narrower or shorter than 1 px',
                 'dropped 1 box(es) lying (almost) entirely outside their image',
                 'clipped 1 box(es) to their image',
                 'ignored 1 annotation(s) whose image is not listed'):
        assert part in warning[0]


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found: .*nope.json') as err:
        CocoDataset(ann_file=str(tmp_path / 'nope.json'))
    assert 'cocodataset.org' not in str(err.value)


def test_missing_default_coco_explains_download_and_synthetic(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        CocoDataset(data_root='data/coco/', ann_file='annotations/instances_train2017.json')
    msg = str(err.value)
    assert 'data/coco/annotations/instances_train2017.json' in msg
    assert 'http://images.cocodataset.org/zips/train2017.zip' in msg
    assert 'annotations_trainval2017.zip' in msg
    assert 'configs/retinanet_r18_fpn_synthetic.py' in msg


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{\n  "images": [\n    1,\n  ]\n}\n')
    with pytest.raises(ValueError, match=r'bad\.json is not valid JSON: .* at line 4, column 3'):
        CocoDataset(ann_file=str(path))


def test_json_that_is_not_coco(tmp_path):
    path = tmp_path / 'list.json'
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match='list.json is not in COCO format'):
        CocoDataset(ann_file=str(path))


def test_image_entry_without_size(make_coco, build_coco, tmp_path):
    root = make_coco(IMAGES, [])
    path = os.path.join(root, 'annotations', 'ann.json')
    data = json.load(open(path))
    del data['images'][1]['height']
    json.dump(data, open(path, 'w'))
    with pytest.raises(ValueError, match=r"images\[1\] lacks \['height'\]"):
        build_coco(root)


def test_missing_image_names_it_and_the_annotation_file(make_coco, build_coco):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10])])
    os.remove(os.path.join(root, 'img', '2.png'))
    with pytest.raises(FileNotFoundError) as err:
        build_coco(root)
    msg = str(err.value)
    assert '1 of 2 image files' in msg
    assert os.path.join(root, 'img', '2.png') in msg
    assert os.path.join(root, 'annotations', 'ann.json') in msg


def _corrupt(root):
    path = os.path.join(root, 'img', '2.png')
    with open(path, 'wb') as f:
        f.write(b'this is not a png')
    return path


def test_corrupt_image_raises_naming_it_by_default(make_coco, build_coco):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10]), ann(2, 1, [1, 1, 5, 5])])
    path = _corrupt(root)
    ds = build_coco(root, pipeline=PIPELINE)
    with pytest.raises(CorruptImageError) as err:
        ds[1]
    assert path in str(err.value) and 'skip_corrupt=True' in str(err.value)


def test_corrupt_image_skipped_with_counted_warning(make_coco, build_coco, log_messages):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10]), ann(2, 1, [1, 1, 5, 5])])
    path = _corrupt(root)
    ds = build_coco(root, pipeline=PIPELINE, skip_corrupt=True)
    np.random.seed(0)
    for _ in range(3):
        assert ds[1]['data_samples'].img_id == 1  # the only other image
    # a random redraw may hit the corrupt image again: each time is counted
    skipped = [m for m in log_messages if 'skipped corrupt image' in m]
    assert ds.num_skipped_corrupt == len(skipped) >= 3
    assert path in skipped[-1]
    assert f'({len(skipped)} corrupt image(s) skipped by this process)' in skipped[-1]


def test_corrupt_image_cannot_be_skipped_in_test_mode(make_coco, build_coco):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10])])
    _corrupt(root)
    ds = build_coco(root, pipeline=PIPELINE, skip_corrupt=True, test_mode=True)
    with pytest.raises(CorruptImageError, match='cannot be skipped when evaluating'):
        ds[1]


def test_unknown_names_and_bad_boxes_counted(tmp_path, log_messages):
    root = make_voc(tmp_path, {'a': (40, 30, [obj('cat', (5, 5, 10, 10)),
                                              obj('unicorn', (1, 1, 5, 5)),
                                              obj('cat', (10, 10, 9, 20))])})
    ds = build_voc(root)
    assert len(ds.get_data_info(0)['instances']) == 1
    warning = [m for m in log_messages if m.startswith('VOCDataset(')][0]
    assert "ignored 1 annotation(s) whose category is not in `classes` (names ['unicorn'])" \
        in warning
    assert 'dropped 1 box(es) narrower or shorter than 1 px' in warning


def test_empty_after_filtering(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [obj('cat', (1, 1, 5, 5), difficult=1)])})
    with pytest.raises(ValueError, match='filter_empty_gt=True .* removed 1'):
        build_voc(root, filter_cfg=dict(filter_empty_gt=True))


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='VOC split file not found: .*test.txt'):
        build_voc(str(tmp_path))


def test_missing_xml_names_it_and_the_split_file(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [])})
    os.remove(os.path.join(root, 'VOC2007', 'Annotations', 'a.xml'))
    with pytest.raises(FileNotFoundError, match=r'Annotations/a\.xml not found.*test\.txt'):
        build_voc(root)


def test_malformed_xml_names_file_line_and_column(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [])})
    path = os.path.join(root, 'VOC2007', 'Annotations', 'a.xml')
    with open(path, 'w') as f:
        f.write('<annotation>\n  <object>\n</annotation>\n')
    with pytest.raises(ValueError, match=r'a\.xml is not valid XML: .* at line 3, column 2'):
        build_voc(root)


def test_missing_image_names_it_and_the_split_file(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, []), 'b': (40, 30, [])})
    os.remove(os.path.join(root, 'VOC2007', 'JPEGImages', 'b.jpg'))
    with pytest.raises(FileNotFoundError, match=r'1 of 2 image files .*test\.txt.*b\.jpg'):
        build_voc(root)
