"""fast_eval builds what loadRes builds and gives COCOeval's 12 numbers."""
import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.evaluation.fast_eval import (evaluate_bbox, faster_coco_eval_available,
                                         load_results, resolve_backend)


def _coco_and_rows(seed=0):
    rng = np.random.default_rng(seed)
    images = [dict(id=i, width=100, height=80, file_name=f'{i}.jpg') for i in range(1, 9)]
    anns = []
    for img in images:
        for _ in range(4):
            x, y = rng.uniform(0, 60), rng.uniform(0, 40)
            w, h = rng.uniform(5, 40), rng.uniform(5, 40)
            anns.append(dict(id=len(anns) + 1, image_id=img['id'],
                             category_id=int(rng.integers(1, 4)), bbox=[x, y, w, h],
                             area=w * h, iscrowd=int(len(anns) % 13 == 0)))
    coco = COCO()
    coco.dataset = dict(images=images, annotations=anns,
                        categories=[dict(id=k, name=str(k)) for k in (1, 2, 3)])
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    gt = np.array([[a['image_id'], *a['bbox'], 1.0, a['category_id']] for a in anns])
    noisy = gt.copy()
    noisy[:, 1:5] += rng.normal(0, 2, (len(gt), 4))
    noisy[:, 3:5] = np.abs(noisy[:, 3:5]) + 1
    noisy[:, 5] = rng.uniform(0.1, 1, len(gt))
    noisy[::5, 6] = 1 + (noisy[::5, 6] % 3)  # some wrong classes
    return coco, noisy


def test_load_results_builds_the_detections_loadres_builds():
    coco, rows = _coco_and_rows()
    with contextlib.redirect_stdout(io.StringIO()):
        expected = coco.loadRes(rows)
    got = load_results(coco, rows)
    keys = ('image_id', 'bbox', 'score', 'category_id', 'area', 'id', 'iscrowd')
    for ann_id, ann in expected.anns.items():
        assert {k: got.anns[ann_id][k] for k in keys} == {k: ann[k] for k in keys}
    assert got.getImgIds() == expected.getImgIds()
    assert got.getCatIds() == expected.getCatIds()


def test_unknown_image_ids_are_named():
    coco, rows = _coco_and_rows()
    rows[0, 0] = 999
    with pytest.raises(ValueError, match='not in the ground truth'):
        load_results(coco, rows)


@pytest.mark.parametrize('backend', ['pycocotools', 'faster_coco_eval'])
def test_evaluate_bbox_gives_cocoeval_numbers(backend):
    if backend == 'faster_coco_eval' and not faster_coco_eval_available():
        pytest.skip('faster-coco-eval is not installed')
    coco, rows = _coco_and_rows()
    with contextlib.redirect_stdout(io.StringIO()):
        ref = COCOeval(coco, coco.loadRes(rows), 'bbox')
        ref.params.maxDets = [100, 300, 1000]
        ref.evaluate()
        ref.accumulate()
        ref.summarize()
    stats, evaluator, summary = evaluate_bbox(coco, rows, [1, 2, 3], coco.getImgIds(),
                                              backend=backend)
    np.testing.assert_allclose(stats, ref.stats, rtol=0, atol=1e-12)
    assert evaluator.eval['precision'].shape == ref.eval['precision'].shape
    assert 'Average Precision' in summary


def test_backend_names_are_checked():
    with pytest.raises(ValueError, match='backend must be one of'):
        resolve_backend('fast')
    assert resolve_backend('pycocotools') == 'pycocotools'
