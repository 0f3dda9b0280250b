import json
import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from detkit.evaluation import CocoMetric
from detkit.evaluation.coco_format import results_array, results_json
from detkit.evaluation.fast_eval import faster_coco_eval_available

KEYS = ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75', 'coco/bbox_mAP_s',
        'coco/bbox_mAP_m', 'coco/bbox_mAP_l', 'coco/bbox_AR@100', 'coco/bbox_AR@300',
        'coco/bbox_AR@1000', 'coco/bbox_AR_s@1000', 'coco/bbox_AR_m@1000',
        'coco/bbox_AR_l@1000']

# Two images; category ids not contiguous and listed in another order than `classes`.
GT = dict(
    images=[dict(id=7, file_name='a.jpg', width=200, height=100),
            dict(id=9, file_name='b.jpg', width=200, height=100)],
    categories=[dict(id=30, name='square'), dict(id=4, name='circle')],
    annotations=[
        dict(id=1, image_id=7, category_id=4, bbox=[10, 10, 40, 20], area=800, iscrowd=0),
        dict(id=2, image_id=7, category_id=30, bbox=[100, 20, 60, 60], area=3600, iscrowd=0),
        dict(id=3, image_id=9, category_id=30, bbox=[0, 0, 150, 90], area=13500, iscrowd=0),
    ])
CLASSES = ('circle', 'square')  # label 0 -> id 4, label 1 -> id 30


@pytest.fixture
def logged():
    """The messages of a fresh current MMLogger, which is dropped after the test
    (a logger left current would keep writing to this test's captured streams)."""
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    name = f'test_coco_metric_{id(messages)}'
    logger = MMLogger.get_instance(name, log_level='INFO')
    logger.addHandler(Collect())
    yield messages
    del MMLogger._instance_dict[name]


@pytest.fixture
def ann_file(tmp_path):
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(GT))
    return str(path)


def sample(img_id, boxes, labels, scores=None):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    scores = torch.ones(len(boxes)) if scores is None else torch.tensor(scores)
    return dict(img_id=img_id, img_path=f'{img_id}.jpg', ori_shape=(100, 200),
                pred_instances=dict(bboxes=boxes, scores=scores,
                                    labels=torch.tensor(labels, dtype=torch.int64)))


def perfect():
    return [sample(7, [[10, 10, 50, 30], [100, 20, 160, 80]], [0, 1]),
            sample(9, [[0, 0, 150, 90]], [1])]


def evaluate(metric, samples, meta=None):
    metric.dataset_meta = meta or dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def test_perfect_predictions_give_all_twelve_numbers_at_one(ann_file):
    result = evaluate(CocoMetric(ann_file=ann_file), perfect())
    assert list(result) == KEYS
    assert set(result.values()) == {1.0}  # one small, one medium, one large gt


def test_labels_map_to_category_ids_by_name(ann_file):
    swapped = [sample(7, [[10, 10, 50, 30], [100, 20, 160, 80]], [1, 0]),
               sample(9, [[0, 0, 150, 90]], [0])]
    assert evaluate(CocoMetric(ann_file=ann_file), swapped)['coco/bbox_mAP'] == 0.0


def test_half_the_boxes_wrong_lowers_the_map(ann_file):
    samples = perfect()
    samples[1] = sample(9, [[150, 50, 200, 100]], [1])
    result = evaluate(CocoMetric(ann_file=ann_file), samples)
    assert 0.0 < result['coco/bbox_mAP'] < 1.0


def test_ann_file_none_takes_dataset_meta(ann_file):
    meta = dict(classes=CLASSES, ann_file=ann_file)
    assert evaluate(CocoMetric(ann_file=None), perfect(), meta)['coco/bbox_mAP'] == 1.0


def test_ann_file_none_without_meta_says_what_to_set():
    with pytest.raises(ValueError, match='ann_file'):
        evaluate(CocoMetric(ann_file=None), perfect())


def test_class_missing_from_annotation_file_is_named(ann_file):
    with pytest.raises(ValueError, match="'triangle'"):
        evaluate(CocoMetric(ann_file=ann_file), perfect(), dict(classes=('circle', 'triangle')))


def test_no_detections_gives_zeros(ann_file):
    empty = [sample(7, [], []), sample(9, [], [])]
    result = evaluate(CocoMetric(ann_file=ann_file), empty)
    assert list(result) == KEYS and set(result.values()) == {0.0}


def test_classwise_logs_a_table_per_class(ann_file, logged):
    evaluate(CocoMetric(ann_file=ann_file, classwise=True), perfect())
    out = '\n'.join(logged)
    assert '| circle ' in out and '| square ' in out and 'mAP_50' in out


def test_format_only_writes_coco_results_json(ann_file, tmp_path):
    prefix = str(tmp_path / 'out' / 'results')
    result = evaluate(CocoMetric(ann_file=ann_file, format_only=True, outfile_prefix=prefix),
                      perfect())
    assert result == {}
    dets = json.loads((tmp_path / 'out' / 'results.bbox.json').read_text())
    assert dets[0] == dict(image_id=7, bbox=[10.0, 10.0, 40.0, 20.0], score=1.0, category_id=4)
    assert [d['category_id'] for d in dets] == [4, 30, 30]


def test_format_only_needs_a_prefix():
    with pytest.raises(ValueError, match='outfile_prefix'):
        CocoMetric(format_only=True)


def test_results_array_and_json_agree():
    records = [dict(img_id=3, bboxes=np.array([[1., 2., 4., 8.]]), scores=np.array([0.5]),
                    labels=np.array([1]))]
    rows = results_array(records, np.array([11, 22]))
    np.testing.assert_allclose(rows, [[3, 1, 2, 3, 6, 0.5, 22]])
    assert json.loads(results_json(rows)) == [
        dict(image_id=3, bbox=[1.0, 2.0, 3.0, 6.0], score=0.5, category_id=22)]
    assert results_json(rows[:0]) == '[]'


def _noisy(seed):
    """Many scored boxes around and away from the ground truth, both classes."""
    rng = np.random.default_rng(seed)
    gts = {7: [[10, 10, 50, 30], [100, 20, 160, 80]], 9: [[0, 0, 150, 90]]}
    samples = []
    for img_id, boxes in gts.items():
        base = np.array(boxes * 20, dtype=np.float32)
        jitter = rng.normal(0, 6, base.shape).astype(np.float32)
        xyxy = np.concatenate([base[:, :2] + jitter[:, :2],
                               np.maximum(base[:, 2:] + jitter[:, 2:], base[:, :2] + 2)], 1)
        samples.append(sample(img_id, xyxy.tolist(), rng.integers(0, 2, len(xyxy)).tolist(),
                              rng.random(len(xyxy)).astype(np.float32).tolist()))
    return samples


@pytest.mark.skipif(not faster_coco_eval_available(), reason='faster-coco-eval not installed')
def test_faster_coco_eval_backend_gives_the_same_numbers_and_table(ann_file, logged):
    results, tables = [], []
    for backend in ('pycocotools', 'faster_coco_eval'):
        results.append(evaluate(CocoMetric(ann_file=ann_file, classwise=True,
                                           eval_backend=backend), _noisy(0)))
        tables.append(next(m for m in logged[::-1] if '| category' in m))
    assert results[0] == results[1]
    assert 0.0 < results[0]['coco/bbox_mAP'] < 1.0
    assert tables[0] == tables[1]


def test_unknown_eval_backend_is_refused():
    with pytest.raises(ValueError, match="one of .*'faster_coco_eval'.*got 'fast'"):
        CocoMetric(eval_backend='fast')
