"""COCO evaluation speed: plain pycocotools vs ``CocoMetric`` with each backend.

A synthetic ground truth in the embedded dataset's COCO format (images with
``width``/``height``/``file_name``, boxes ``xywh`` with ``area`` and
``iscrowd``, a few crowd regions) and ``dets_per_image`` predictions per
image — half of them jittered copies of ground-truth boxes, so that AP is
far from 0 — as :class:`CocoMetric` keeps them (``prediction_record``).
"""
import contextlib
import io
import json
import logging
import os
import tempfile
import time
from typing import Dict, List

import numpy as np
from pycocotools.cocoeval import COCOeval

BASELINE = 'pycocotools (loadRes + COCOeval)'


def make_ground_truth(num_images: int, num_classes: int, seed: int = 0) -> dict:
    """A COCO dataset dict: 1-15 boxes per image, ~2 % of them crowd regions."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for img_id in range(1, num_images + 1):
        w, h = int(rng.integers(320, 641)), int(rng.integers(240, 481))
        images.append(dict(id=img_id, file_name=f'{img_id:06d}.jpg', width=w, height=h))
        n = int(rng.integers(1, 16))
        wh = rng.uniform(0.03, 0.6, (n, 2)) * [w, h]
        xy = rng.uniform(0, 1, (n, 2)) * ([w, h] - wh)
        crowd = rng.uniform(size=n) < 0.02
        for (x, y), (bw, bh), label, is_crowd in zip(xy, wh, rng.integers(0, num_classes, n),
                                                      crowd):
            anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=int(label) + 1,
                             bbox=[round(float(x), 2), round(float(y), 2),
                                   round(float(bw), 2), round(float(bh), 2)],
                             area=round(float(bw * bh), 2), iscrowd=int(is_crowd)))
    categories = [dict(id=k + 1, name=f'class_{k}') for k in range(num_classes)]
    return dict(images=images, annotations=anns, categories=categories)


def make_predictions(gt: dict, dets_per_image: int, num_classes: int,
                     seed: int = 1) -> List[dict]:
    """Per image the record ``CocoMetric.process`` keeps: xyxy boxes, scores, 0-based labels."""
    rng = np.random.default_rng(seed)
    by_image: Dict[int, list] = {}
    for ann in gt['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    records = []
    for img in gt['images']:
        w, h = img['width'], img['height']
        objs = by_image.get(img['id'], [])
        n_hit = min(dets_per_image // 2, 4 * len(objs))
        src = np.array([o['bbox'] for o in objs], dtype=np.float64).reshape(-1, 4)
        pick = rng.integers(0, max(len(objs), 1), n_hit)
        # xywh of a ground-truth box, each coordinate moved by ~8 % of the box size
        size = np.tile(src[pick, 2:], 2)
        hit = src[pick] + rng.normal(0, 0.08, (n_hit, 4)) * size
        hit_labels = np.array([objs[i]['category_id'] - 1 for i in pick], dtype=np.int64)
        wrong = rng.uniform(size=n_hit) < 0.2
        hit_labels[wrong] = rng.integers(0, num_classes, int(wrong.sum()))
        n_rand = dets_per_image - n_hit
        wh = rng.uniform(0.02, 0.5, (n_rand, 2)) * [w, h]
        xy = rng.uniform(0, 1, (n_rand, 2)) * ([w, h] - wh)
        boxes = np.concatenate([hit, np.concatenate([xy, wh], 1)])
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + np.abs(boxes[:, 2:])], 1)
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        scores = np.concatenate([rng.uniform(0.3, 1.0, n_hit), rng.uniform(0.05, 0.6, n_rand)])
        labels = np.concatenate([hit_labels, rng.integers(0, num_classes, n_rand)])
        records.append(dict(img_id=img['id'], img_path=img['file_name'], ori_shape=(h, w),
                            bboxes=xyxy, scores=scores, labels=labels.astype(np.int64)))
    return records


def run_coco_eval(num_images: int = 5000, dets_per_image: int = 100, num_classes: int = 80,
                  seed: int = 0) -> Dict[str, dict]:
    """Seconds, ratio to plain pycocotools and the 12 numbers of each path."""
    from mmengine.logging import MMLogger

    from detkit.evaluation import CocoMetric
    from detkit.evaluation.coco_format import category_ids, load_coco, results_array
    from detkit.evaluation.fast_eval import faster_coco_eval_available, load_results

    gt = make_ground_truth(num_images, num_classes, seed)
    records = make_predictions(gt, dets_per_image, num_classes, seed + 1)
    classes = [c['name'] for c in gt['categories']]
    img_ids = [r['img_id'] for r in records]
    out: Dict[str, dict] = {}
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ann_file = os.path.join(tmp, 'instances_val.json')
            with open(ann_file, 'w') as f:
                json.dump(gt, f)
            coco = load_coco(ann_file)
            # the plain pycocotools path: loadRes + COCOeval, as MMDetection runs it
            start = time.perf_counter()
            label_to_cat = category_ids(coco, classes)
            rows = results_array(records, label_to_cat)
            with contextlib.redirect_stdout(io.StringIO()):
                reference = COCOeval(coco, coco.loadRes(rows), 'bbox')
                reference.params.catIds = label_to_cat.tolist()
                reference.params.imgIds = img_ids
                reference.params.maxDets = [100, 300, 1000]
                reference.evaluate()
                reference.accumulate()
                reference.summarize()
            exact = np.asarray(reference.stats[:12])
            rounded = np.asarray([round(float(v), 3) for v in exact])
            out[BASELINE] = dict(seconds=time.perf_counter() - start, stats=exact.tolist())
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                coco.loadRes(rows)
            out['loadRes alone'] = dict(seconds=time.perf_counter() - start)
            start = time.perf_counter()
            load_results(coco, rows)
            out['fast_eval.load_results alone'] = dict(seconds=time.perf_counter() - start)
            backends = ['pycocotools'] + (['faster_coco_eval'] if faster_coco_eval_available()
                                          else [])
            for backend in backends:
                metric = CocoMetric(ann_file=ann_file, eval_backend=backend)
                metric.dataset_meta = dict(classes=classes)
                metric._ground_truth()  # read the file outside the timing, as above
                start = time.perf_counter()
                numbers = np.asarray(list(metric.compute_metrics(records).values()))
                # "identical": the same numbers at the precision CocoMetric reports them
                out[f'CocoMetric, {backend}'] = dict(
                    seconds=time.perf_counter() - start, stats=numbers.tolist(),
                    max_abs_diff=float(np.abs(numbers - rounded).max()),
                    identical=bool(np.array_equal(numbers, rounded)))
    finally:
        logger.setLevel(level)
    base = out[BASELINE]['seconds']
    for entry in out.values():
        entry['ratio'] = entry['seconds'] / base
    return out


def format_coco_eval(results: Dict[str, dict]) -> str:
    lines = [f'{"path":<30}{"seconds":>10}{"ratio":>8}  12 numbers', '-' * 70]
    for name, entry in results.items():
        stats = entry.get('stats')
        note = '' if stats is None else ' '.join(f'{v:.3f}' for v in stats)
        if 'identical' in entry:
            verdict = 'same' if entry['identical'] else 'DIFFERENT'
            note += f'  ({verdict} to 3 decimals; max |diff| {entry["max_abs_diff"]:.1e})'
        lines.append(f'{name:<30}{entry["seconds"]:>10.2f}{entry["ratio"]:>8.3f}  {note}')
    return '\n'.join(lines)
