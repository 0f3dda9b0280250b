"""What both sides of the from-scratch parity benchmark share: the recipe, the data, the metric.

The recipe is torchvision's detection reference for RetinaNet trained from
scratch (SGD, linear warm-up, step decay), with a ResNet-18 backbone. Both
frameworks read the same COCO JSON and images of detkit's synthetic set and
are scored by one pycocotools ``COCOeval`` on the same val images, from
detections in original-image pixels (``x1, y1, x2, y2``).
"""
import contextlib
import io
import json
import os
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.datasets.synthetic import SYNTHETIC_CLASSES


@dataclass(frozen=True)
class Recipe:
    """One training recipe, applied identically to both frameworks.

    Attributes:
        short, long: images are resized so that the short side is ``short``
            and the long side at most ``long`` (aspect ratio kept).
        width: FPN and head channels (torchvision's RetinaNet: 256).
        anchor_base: anchor size at stride 8 (32: anchors of 32-512 px).
        iters, batch: SGD iterations and images per batch.
        lr, momentum, weight_decay: SGD.
        warmup: linear warm-up iterations from ``lr * 0.001``.
        steps: iterations after which the lr is multiplied by 0.1.
    """

    short: int
    long: int
    width: int
    anchor_base: int
    iters: int
    batch: int
    lr: float
    warmup: int
    steps: Tuple[int, ...]
    momentum: float = 0.9
    weight_decay: float = 1e-4


PRESETS: Dict[str, Recipe] = {
    # The recipe (the synthetic images of 256 px are upscaled to 320):
    # ~100 s a run on an H200.
    'full': Recipe(short=320, long=512, width=256, anchor_base=32, iters=1500, batch=4,
                   lr=0.0025, warmup=200, steps=(1000, 1300)),
    # 2 CPU cores: half-size images with anchors to match (16-256 px), FPN and
    # head 64 channels, the full schedule's length with a 4x lr (~10 min of one
    # core per run). Shorter runs say nothing: 400 iterations at 8x lr left both
    # frameworks at mAP ~0.001 (loss_cls had only begun to fall from 1.13), and
    # one detkit seed hit a NaN at lr 0.02.
    'cpu': Recipe(short=128, long=128, width=64, anchor_base=16, iters=1500, batch=4,
                  lr=0.01, warmup=200, steps=(1000, 1300)),
    # The same, 4000 iterations (warm-up and steps scaled): where mAP leaves zero
    # (~0.2 instead of ~0.005); ~25 min a run, two at a time on 2 cores.
    'cpu-long': Recipe(short=128, long=128, width=64, anchor_base=16, iters=4000, batch=4,
                       lr=0.01, warmup=533, steps=(2667, 3467)),
}


class Diverged(Exception):
    """A run whose loss became NaN/inf: stopped there, scored as detecting nothing.

    Attributes:
        iteration: the 1-based iteration of the first non-finite loss.
        curve: the per-iteration losses up to it.
    """

    def __init__(self, iteration: int, curve: Dict[str, list]) -> None:
        super().__init__(f'non-finite loss at iteration {iteration}')
        self.iteration = iteration
        self.curve = curve


def lr_factor(recipe: Recipe, it: int) -> float:
    """lr / base lr at 0-based iteration ``it``: linear warm-up, then x0.1 per passed step.

    The warm-up is mmengine's ``LinearLR(start_factor=0.001, end=warmup)``:
    it reaches 1 after ``warmup - 1`` steps.
    """
    warm = min(1.0, 0.001 + 0.999 * it / max(1, recipe.warmup - 1))
    return warm * 0.1 ** sum(it >= s for s in recipe.steps)


def class_index(categories: List[dict]) -> Dict[int, int]:
    """COCO category id -> 0-based label in ``SYNTHETIC_CLASSES`` order (as detkit's dataset)."""
    return {c['id']: SYNTHETIC_CLASSES.index(c['name']) for c in categories}


def load_split(root: str, split: str) -> Tuple[dict, List[dict]]:
    """``(coco json, images)``; each image ``dict(id, path, boxes [N, 4] xyxy, labels [N])``.

    Crowd regions are left out, as torchvision's COCO reference loader does.
    """
    with open(os.path.join(root, 'annotations', f'instances_{split}.json')) as f:
        coco = json.load(f)
    labels = class_index(coco['categories'])
    anns: Dict[int, list] = {img['id']: [] for img in coco['images']}
    for ann in coco['annotations']:
        if not ann.get('iscrowd', 0):
            anns[ann['image_id']].append(ann)
    images = []
    for img in coco['images']:
        boxes = np.array([a['bbox'] for a in anns[img['id']]], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        images.append(dict(id=img['id'], path=os.path.join(root, split, img['file_name']),
                           boxes=boxes, labels=np.array([labels[a['category_id']]
                                                         for a in anns[img['id']]], np.int64)))
    return coco, images


def evaluate(root: str, detections: List[dict]) -> Dict[str, float]:
    """pycocotools bbox AP of ``detections`` on the val split.

    ``detections``: per image ``dict(image_id, boxes [N, 4] xyxy original pixels,
    scores [N], labels [N] 0-based)``.
    """
    coco_json, _ = load_split(root, 'val')
    cat_of_label = {v: k for k, v in class_index(coco_json['categories']).items()}
    results = []
    for det in detections:
        for (x1, y1, x2, y2), score, label in zip(det['boxes'].tolist(), det['scores'].tolist(),
                                                  det['labels'].tolist()):
            results.append(dict(image_id=int(det['image_id']), category_id=cat_of_label[label],
                                bbox=[x1, y1, x2 - x1, y2 - y1], score=score))
    if not results:
        return dict(mAP=0.0, mAP50=0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(os.path.join(root, 'annotations', 'instances_val.json'))
        evaluator = COCOeval(gt, gt.loadRes(results), 'bbox')
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(mAP=float(evaluator.stats[0]), mAP50=float(evaluator.stats[1]))
