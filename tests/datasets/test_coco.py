import json
import os

import numpy as np
import pytest

from detkit.datasets import CocoDataset
from detkit.datasets.transforms import CorruptImageError

IMAGES = [(1, 64, 48), (2, 32, 32)]


def ann(image_id, category_id, bbox, **kw):
    return dict(image_id=image_id, category_id=category_id, bbox=bbox, **kw)


def test_boxes_labels_and_crowd_as_ignore(make_coco, build_coco):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10]), ann(1, 3, [0, 0, 8, 8], iscrowd=1),
                              ann(2, 7, [4, 4, 4, 4])])
    ds = build_coco(root)
    assert ds.cat_ids == [1, 3, 7]
    assert ds.cat2label == {1: 0, 3: 1, 7: 2}
    first = ds.get_data_info(0)
    assert first['img_path'] == os.path.join(root, 'img', '1.png')
    assert (first['img_id'], first['width'], first['height']) == (1, 64, 48)
    assert first['instances'] == [dict(bbox=[10.0, 5.0, 30.0, 15.0], bbox_label=0, ignore_flag=0),
                                  dict(bbox=[0.0, 0.0, 8.0, 8.0], bbox_label=1, ignore_flag=1)]
    assert ds.get_data_info(1)['instances'][0]['bbox_label'] == 2
    meta = ds.metainfo
    assert meta['classes'] == ('cat', 'dog', 'bird')
    assert meta['cat_ids'] == [1, 3, 7]
    assert meta['ann_file'] == os.path.join(root, 'annotations', 'ann.json')
    assert os.path.isabs(meta['ann_file'])


def test_classes_select_and_order_a_subset(make_coco, build_coco, log_messages):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10]), ann(1, 3, [0, 0, 8, 8]),
                              ann(2, 7, [4, 4, 4, 4])])
    ds = build_coco(root, metainfo=dict(classes=('bird', 'cat')))
    assert ds.cat_ids == [7, 1]
    assert [i['bbox_label'] for i in ds.get_data_info(0)['instances']] == [1]
    assert [i['bbox_label'] for i in ds.get_data_info(1)['instances']] == [0]
    assert any('ignored 1 annotation(s) whose category is not in `classes` (category ids [3])'
               in m for m in log_messages)


def test_cat_ids_in_metainfo_select_by_id_and_rename(make_coco, build_coco):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10]), ann(2, 7, [4, 4, 4, 4])])
    ds = build_coco(root, metainfo=dict(classes=('feline', 'avian'), cat_ids=[1, 7]))
    assert ds.metainfo['classes'] == ('feline', 'avian')
    assert ds.cat_ids == [1, 7]
    assert ds.get_data_info(1)['instances'][0]['bbox_label'] == 1


def test_unknown_class_name_suggests_the_close_one(make_coco, build_coco):
    root = make_coco(IMAGES, [])
    with pytest.raises(ValueError, match=r"'dgo' \(did you mean 'dog'\?\)"):
        build_coco(root, metainfo=dict(classes=('cat', 'dgo')))


def test_default_coco_classes_on_a_custom_file_say_how_to_fix(make_coco):
    root = make_coco(IMAGES, [])
    with pytest.raises(ValueError, match=r'77 of the 80 `classes`.*metainfo=dict\(classes'):
        CocoDataset(data_root=root, ann_file='annotations/ann.json',
                    data_prefix=dict(img='img/'))


def test_images_without_boxes_kept_in_test_mode_filtered_in_training(make_coco, build_coco,
                                                                     log_messages):
    root = make_coco([(1, 64, 48), (2, 32, 32), (3, 20, 64)],
                     [ann(1, 1, [10, 5, 20, 10]), ann(2, 3, [0, 0, 8, 8], iscrowd=1),
                      ann(3, 1, [1, 1, 5, 5])])
    assert len(build_coco(root, test_mode=True,
                          filter_cfg=dict(filter_empty_gt=True, min_size=32))) == 3
    ds = build_coco(root, filter_cfg=dict(filter_empty_gt=True, min_size=32))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [1]
    assert any('kept 1 of 3 images' in m and 'filter_empty_gt=True' in m
               and 'removed 1' in m for m in log_messages)


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


PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackDetInputs')]


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


def test_pipeline_output_follows_the_contract(make_coco, build_coco):
    root = make_coco(IMAGES, [ann(1, 1, [10, 5, 20, 10]), ann(1, 3, [0, 0, 8, 8], iscrowd=1)])
    pipeline = PIPELINE[:2] + [dict(type='Resize', scale=(32, 32)), dict(type='PackDetInputs')]
    out = build_coco(root, pipeline=pipeline)[0]
    sample = out['data_samples']
    assert out['inputs'].shape == (3, 24, 32)
    assert sample.scale_factor == (0.5, 0.5)
    assert sample.gt_instances.bboxes.tolist() == [[5.0, 2.5, 15.0, 7.5]]
    assert sample.ignored_instances.bboxes.tolist() == [[0.0, 0.0, 4.0, 4.0]]
    assert sample.ori_shape == (48, 64) and sample.img_id == 1
