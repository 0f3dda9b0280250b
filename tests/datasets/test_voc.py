import json
import os

import pytest

from .conftest import build_voc as build, make_voc, obj


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv('DETKIT_DATA', str(tmp_path / 'cache'))


def test_boxes_labels_difficult_as_ignore(tmp_path):
    root = make_voc(tmp_path, {'000001': (64, 48, [obj('dog', (11, 6, 30, 15)),
                                                   obj('person', (1, 1, 8, 8), difficult=1)]),
                               '000002': (32, 32, [obj('cat', (5, 5, 10, 10))])})
    ds = build(root)
    first = ds.get_data_info(0)
    assert first['img_path'] == os.path.join(root, 'VOC2007', 'JPEGImages', '000001.jpg')
    assert (first['img_id'], first['voc_name'], first['width'], first['height']) == \
        (1, '000001', 64, 48)
    # VOC's 1-based inclusive pixels -> xyxy pixel edges
    assert first['instances'] == [dict(bbox=[10.0, 5.0, 30.0, 15.0], bbox_label=11, ignore_flag=0),
                                  dict(bbox=[0.0, 0.0, 8.0, 8.0], bbox_label=14, ignore_flag=1)]
    assert ds.metainfo['classes'][7] == 'cat'
    assert 'ann_file' not in ds.metainfo  # only test_mode writes the COCO ground truth


def test_test_mode_writes_coco_ground_truth_for_the_metric(tmp_path):
    root = make_voc(tmp_path, {'000001': (64, 48, [obj('dog', (11, 6, 30, 15)),
                                                   obj('person', (1, 1, 8, 8), difficult=1)])})
    ds = build(root, test_mode=True)
    gt_file = ds.metainfo['ann_file']
    assert gt_file.startswith(str(tmp_path / 'cache' / 'voc_coco_gt'))
    gt = json.load(open(gt_file))
    assert gt['images'] == [dict(id=1, file_name='000001.jpg', width=64, height=48)]
    assert [a['bbox'] for a in gt['annotations']] == [[10.0, 5.0, 20.0, 10.0], [0.0, 0.0, 8.0, 8.0]]
    assert [a['iscrowd'] for a in gt['annotations']] == [0, 1]
    assert [a['category_id'] for a in gt['annotations']] == [12, 15]
    assert gt['categories'][11] == dict(id=12, name='dog')
    assert ds.metainfo['cat_ids'] == list(range(1, 21))


def test_size_read_from_the_image_when_the_xml_lacks_it(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [obj('cat', (5, 5, 60, 10))])}, size_in_xml=False)
    info = build(root).get_data_info(0)
    assert (info['width'], info['height']) == (40, 30)
    assert info['instances'][0]['bbox'] == [4.0, 4.0, 40.0, 10.0]  # clipped to the image
