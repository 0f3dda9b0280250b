import functools
import json
import os

import numpy as np
import pytest
from pycocotools.coco import COCO

import detkit.datasets.synthetic as synthetic
import detkit.datasets.synthetic_coco as synthetic_coco
from detkit.datasets import (SYNTHETIC_CLASSES, SyntheticCocoDataset, ensure_synthetic_dataset,
                             generate_synthetic_coco)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    return generate_synthetic_coco(str(tmp_path_factory.mktemp('syn') / 'set'), num_train=24,
                                   num_val=4, seed=0)


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def test_same_seed_gives_byte_identical_json(small_set, tmp_path):
    again = generate_synthetic_coco(str(tmp_path / 'again'), num_train=24, num_val=4, seed=0)
    for key in ('train_ann', 'val_ann'):
        assert read_bytes(again[key]) == read_bytes(small_set[key])
    other = generate_synthetic_coco(str(tmp_path / 'other'), num_train=24, num_val=4, seed=1)
    assert read_bytes(other['train_ann']) != read_bytes(small_set['train_ann'])


def test_image_i_does_not_depend_on_the_set_size(small_set, tmp_path):
    fewer = generate_synthetic_coco(str(tmp_path / 'fewer'), num_train=5, num_val=1, seed=0)
    big, few = json.load(open(small_set['train_ann'])), json.load(open(fewer['train_ann']))
    assert few['images'] == big['images'][:5]
    assert few['annotations'] == [a for a in big['annotations'] if a['image_id'] <= 5]


def test_layout_and_scene_statistics(small_set):
    coco = COCO(small_set['train_ann'])
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(SYNTHETIC_CLASSES)
    assert len(coco.getImgIds()) == 24
    assert len(os.listdir(small_set['train_img'])) == 24
    assert len(os.listdir(small_set['val_img'])) == 4
    sizes, labels = [], set()
    for img in coco.loadImgs(coco.getImgIds()):
        assert (img['width'], img['height']) in synthetic.IMAGE_SIZES
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img['id']))
        assert 1 <= sum(not a['iscrowd'] for a in anns) <= 8
        for a in anns:
            x, y, w, h = a['bbox']
            assert x >= 0 and y >= 0 and x + w <= img['width'] and y + h <= img['height']
            assert 0 < a['area'] <= w * h
            sizes.append(max(w, h))
            labels.add(a['category_id'])
    assert labels == {1, 2, 3, 4, 5}
    assert min(sizes) < 24 and max(sizes) > 96


def test_dataset_reads_the_set(small_set):
    ds = SyntheticCocoDataset(data_root=small_set['root'],
                              ann_file='annotations/instances_val.json',
                              data_prefix=dict(img='val/'), test_mode=True,
                              pipeline=[dict(type='LoadImageFromFile'),
                                        dict(type='LoadAnnotations'),
                                        dict(type='PackDetInputs')])
    assert len(ds) == 4
    assert ds.metainfo['classes'] == SYNTHETIC_CLASSES and ds.cat_ids == [1, 2, 3, 4, 5]
    out = ds[0]
    assert out['inputs'].shape[1:] == out['data_samples'].ori_shape
    assert len(out['data_samples'].gt_instances) >= 1


def test_ensure_generates_into_the_cache_once(tmp_path, monkeypatch):
    monkeypatch.setenv('DETKIT_DATA', str(tmp_path / 'cache'))
    root = ensure_synthetic_dataset(num_train=3, num_val=1)
    assert root == str(tmp_path / 'cache' / 'synthetic_v1')
    assert os.listdir(tmp_path / 'cache') == ['synthetic_v1']  # no temporary left behind
    monkeypatch.setattr(synthetic, 'generate_synthetic_coco',
                        lambda *a, **k: pytest.fail('regenerated a complete set'))
    assert ensure_synthetic_dataset() == root


def test_killed_generation_leaves_no_half_dataset(tmp_path, monkeypatch):
    def interrupted(root, *args):
        os.makedirs(os.path.join(root, 'train'))
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, 'generate_synthetic_coco', interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic_dataset(str(tmp_path / 'set'))
    assert os.listdir(tmp_path) == []


def test_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / 'set').mkdir()
    (tmp_path / 'set' / 'mine.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not a complete synthetic dataset'):
        ensure_synthetic_dataset(str(tmp_path / 'set'))


def test_dataset_generates_when_data_root_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv('DETKIT_DATA', str(tmp_path / 'cache'))
    monkeypatch.setattr(synthetic_coco, 'ensure_synthetic_dataset',
                        functools.partial(ensure_synthetic_dataset, num_train=3, num_val=1))
    ds = SyntheticCocoDataset()
    assert len(ds) == 3
    assert ds.metainfo['ann_file'] == str(
        tmp_path / 'cache' / 'synthetic_v1' / 'annotations' / 'instances_train.json')
    ds = SyntheticCocoDataset(data_root=str(tmp_path / 'elsewhere'))
    assert len(ds) == 3 and os.path.isdir(tmp_path / 'elsewhere' / 'train')


def test_render_scene_is_deterministic():
    a_img, a_objs = synthetic.render_scene(np.random.default_rng([5, 0, 7]))
    b_img, b_objs = synthetic.render_scene(np.random.default_rng([5, 0, 7]))
    assert (a_img == b_img).all() and a_objs == b_objs


def test_ground_truth_through_the_pipeline_scores_full_map_with_the_coco_metric(small_set):
    """Pipeline metadata maps boxes back to original pixels; the metric finds ann_file."""
    import torch

    from detkit.evaluation import CocoMetric

    ds = SyntheticCocoDataset(data_root=small_set['root'], test_mode=True,
                              pipeline=[dict(type='LoadImageFromFile'),
                                        dict(type='LoadAnnotations'),
                                        dict(type='Resize', scale=(333, 250)),
                                        dict(type='PackDetInputs')])
    metric = CocoMetric()  # ann_file=None: metainfo['ann_file']
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        gt = sample.gt_instances
        sample.pred_instances = gt.new(bboxes=gt.bboxes / torch.tensor(sample.scale_factor * 2),
                                       scores=torch.ones(len(gt)), labels=gt.labels)
        metric.process({}, [sample.to_dict()])
    result = metric.evaluate(len(ds))
    assert result['coco/bbox_mAP'] == 1.0
