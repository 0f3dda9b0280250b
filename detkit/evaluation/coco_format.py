"""Predictions as COCO results: arrays, category ids, JSON; the ground truth.

Shared by :class:`CocoMetric` and :class:`DumpDetResults`. Boxes go from
``xyxy`` to COCO's ``xywh`` and labels to the annotation file's category ids
with whole-array operations; the only Python loop is over images.
"""
import contextlib
import io
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.fileio import get_local_path
from pycocotools.coco import COCO


def prediction_record(data_sample: Dict[str, Any]) -> Dict[str, Any]:
    """One image's predictions as numpy: what the metrics keep per image.

    ``data_sample`` is a ``DetDataSample.to_dict()`` whose ``pred_instances``
    hold ``bboxes [D, 4]`` (xyxy, original pixels), ``scores [D]``,
    ``labels [D]`` (``0..K-1``).
    """
    pred = data_sample['pred_instances']
    return dict(
        img_id=data_sample['img_id'],
        img_path=data_sample.get('img_path'),
        ori_shape=data_sample.get('ori_shape'),
        bboxes=pred['bboxes'].detach().cpu().numpy().astype(np.float64).reshape(-1, 4),
        scores=pred['scores'].detach().cpu().numpy().astype(np.float64).reshape(-1),
        labels=pred['labels'].detach().cpu().numpy().astype(np.int64).reshape(-1))


def load_coco(ann_file: str, backend_args: Optional[dict] = None) -> COCO:
    """pycocotools' ``COCO(ann_file)`` without its progress prints.

    ``backend_args``: mmengine file-backend arguments for a remote ``ann_file``.
    """
    if '://' not in ann_file and not os.path.isfile(ann_file):
        raise FileNotFoundError(f'COCO annotation file for evaluation not found: {ann_file}')
    with get_local_path(ann_file, backend_args=backend_args) as local_path, \
            contextlib.redirect_stdout(io.StringIO()):
        return COCO(local_path)


def category_ids(coco: COCO, classes: Sequence[str],
                 cat_ids: Optional[Sequence[int]] = None) -> np.ndarray:
    """The category id of each label ``0..K-1``: ``[K]`` int64.

    ``cat_ids`` (given by the dataset, one per class) win when they all
    exist in ``coco``; otherwise classes are matched to categories by name.
    """
    known = {c['id'] for c in coco.dataset['categories']}
    if cat_ids is not None and len(cat_ids) == len(classes) and set(cat_ids) <= known:
        return np.asarray(cat_ids, dtype=np.int64)
    by_name: Dict[str, int] = {}
    for cat in coco.dataset['categories']:
        by_name.setdefault(cat['name'], cat['id'])
    absent = [c for c in classes if c not in by_name]
    if absent:
        raise ValueError(
            f'{len(absent)} of the dataset\'s classes are not category names in the '
            f'annotation file used for evaluation: {absent[:10]}; its categories are '
            f'{sorted(by_name)[:20]}. Evaluate with the annotation file the dataset '
            'was built from (val_evaluator.ann_file).')
    return np.asarray([by_name[c] for c in classes], dtype=np.int64)


def results_array(records: List[Dict[str, Any]], label_to_cat: np.ndarray) -> np.ndarray:
    """Stack all predictions as pycocotools' ``[N, 7]`` rows.

    Each row is ``(image_id, x, y, w, h, score, category_id)``.
    """
    if not records:
        return np.zeros((0, 7))
    boxes = np.concatenate([r['bboxes'] for r in records])
    scores = np.concatenate([r['scores'] for r in records])
    labels = np.concatenate([r['labels'] for r in records])
    img_ids = np.concatenate([np.full(len(r['scores']), r['img_id'], dtype=np.float64)
                              for r in records])
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    return np.column_stack([img_ids, xywh, scores, label_to_cat[labels]]).astype(np.float64)


def results_json(rows: np.ndarray) -> str:
    """The COCO results JSON (a list of detections) of ``[N, 7]`` rows."""
    if len(rows) == 0:
        return '[]'
    buffer = io.StringIO()
    np.savetxt(buffer, rows, newline=',\n', fmt=(
        '{"image_id": %d, "bbox": [%.3f, %.3f, %.3f, %.3f], "score": %.6g, '
        '"category_id": %d}'))
    return '[' + buffer.getvalue()[:-2] + ']'


def write_results_json(rows: np.ndarray, path: str) -> str:
    """Write :func:`results_json` of ``rows`` to ``path``; return the path."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(results_json(rows))
    return path
