import os

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


PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackDetInputs')]


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
