"""Confusion matrix of detections against the ground truth, drawn as a PNG.

    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/analysis_tools/confusion_matrix.py CONFIG results.pkl --out confusion.png \\
        [--score-thr 0.3] [--iou-thr 0.5]

Rows are ground-truth classes plus "background" (detections that overlap no
object), columns predicted classes plus "background" (objects that no
detection of their class found). A detection scoring at least ``--score-thr``
counts once for every ground-truth box it overlaps with IoU at least
``--iou-thr``: in the right class on the diagonal, otherwise off it (as
MMDetection's tool). Ignore regions (COCO crowds) are left out: a detection
overlapping only them counts nowhere. Cells show the share of their row.
"""
import argparse
import os
import pickle
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from torchvision.ops import box_iou

from detkit.engine.checkpoint import safe_globals
from detkit.engine.runner_utils import run_tool
from detkit.registry import DATASETS
from detkit.utils import load_config
from detkit.utils.optional_import import pyplot


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Draw the confusion matrix of detections.')
    parser.add_argument('config', help='config whose test dataset the results are of')
    parser.add_argument('results', help='predictions from tools/test.py --out results.pkl')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest score of a counted detection (default 0.3)')
    parser.add_argument('--iou-thr', type=float, default=0.5,
                        help='IoU at which a detection matches an object (default 0.5)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='config overrides with dotted keys')
    args = parser.parse_args(argv)
    for name in ('score_thr', 'iou_thr'):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f'--{name.replace("_", "-")} must be in [0, 1], '
                         f'got {getattr(args, name)}')
    return args


class _ArraysOnly(pickle.Unpickler):
    """Unpickles lists and dicts of numbers, strings and numpy arrays, nothing else."""

    allowed = {name: obj for obj, name in safe_globals() if name.startswith('numpy')}

    def find_class(self, module: str, name: str):
        found = self.allowed.get(f'{module}.{name}')
        if found is None:
            raise pickle.UnpicklingError(f'{module}.{name} is not a numpy array type')
        return found


def load_results(path: str) -> List[dict]:
    """The per-image records of ``tools/test.py --out *.pkl``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'results file not found: {path}')
    with open(path, 'rb') as f:
        try:
            results = _ArraysOnly(f).load()
        except pickle.UnpicklingError as err:
            raise ValueError(f'{path} is not a results file of tools/test.py --out *.pkl '
                             f'({err})') from None
    if not (isinstance(results, list) and all(
            isinstance(r, dict) and {'img_id', 'bboxes', 'scores', 'labels'} <= set(r)
            for r in results)):
        raise ValueError(f'{path} is not a results file of tools/test.py --out *.pkl: '
                         f'expected a list of dicts with img_id, bboxes, scores, labels')
    return results


def ground_truth(dataset) -> Dict[int, dict]:
    """Per ``img_id``: ``bboxes [G, 4]``, ``labels [G]``, ``ignored [I, 4]`` (original pixels)."""
    truth = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        instances = info.get('instances', [])
        boxes = np.array([x['bbox'] for x in instances], np.float32).reshape(-1, 4)
        labels = np.array([x['bbox_label'] for x in instances], np.int64)
        ignore = np.array([bool(x.get('ignore_flag', 0)) for x in instances], bool)
        truth[info['img_id']] = dict(bboxes=boxes[~ignore], labels=labels[~ignore],
                                     ignored=boxes[ignore])
    return truth


def accumulate(matrix: np.ndarray, det: dict, gt: dict, score_thr: float,
               iou_thr: float) -> None:
    """Add one image to the ``[K + 1, K + 1]`` matrix (rows truth, columns predictions)."""
    background = matrix.shape[0] - 1
    keep = det['scores'] >= score_thr
    det_boxes = torch.as_tensor(det['bboxes'][keep], dtype=torch.float32).reshape(-1, 4)
    det_labels = np.asarray(det['labels'][keep], np.int64)
    gt_labels = gt['labels']
    matched = (box_iou(det_boxes, torch.as_tensor(gt['bboxes'])) >= iou_thr).numpy()
    det_idx, gt_idx = matched.nonzero()
    np.add.at(matrix, (gt_labels[gt_idx], det_labels[det_idx]), 1)
    on_ignored = (box_iou(det_boxes, torch.as_tensor(gt['ignored'])) >= iou_thr).numpy().any(1)
    unmatched = ~matched.any(1) & ~on_ignored
    np.add.at(matrix, (background, det_labels[unmatched]), 1)
    found = (matched & (det_labels[:, None] == gt_labels[None, :])).any(0)
    np.add.at(matrix, (gt_labels[~found], background), 1)


def draw(matrix: np.ndarray, names: Sequence[str], out: str, title: str) -> None:
    """The matrix as row percentages, annotated, to ``out``."""
    plt = pyplot('confusion_matrix')
    rows = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    size = max(5.0, 0.6 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(100 * share, cmap='Blues', vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='% of the row')
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha='right')
    ax.set_yticks(ticks, names)
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title)
    if len(names) <= 30:
        for i, j in zip(*np.nonzero(matrix)):
            ax.text(j, i, f'{100 * share[i, j]:.0f}', ha='center', va='center', fontsize=8,
                    color='white' if share[i, j] > 0.5 else 'black')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    results = load_results(args.results)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'detkit'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    truth = ground_truth(dataset)
    missing = [r['img_id'] for r in results if r['img_id'] not in truth]
    if missing:
        raise ValueError(f'{len(missing)} of {len(results)} results are of images not in the '
                         f'test dataset of {args.config} (img_id {missing[:5]}): were they '
                         f'made with this config?')
    classes = list(dataset.metainfo['classes'])
    matrix = np.zeros((len(classes) + 1, len(classes) + 1), np.int64)
    for det in results:
        accumulate(matrix, det, truth[det['img_id']], args.score_thr, args.iou_thr)
    names = classes + ['background']
    draw(matrix, names, args.out, f'score >= {args.score_thr}, IoU >= {args.iou_thr}, '
         f'{len(results)} images')
    corner = 'truth \\ pred'
    width = max(len(n) for n in names + [corner])
    col = min(max(len(n) for n in names), 12)
    print(f'{corner:>{width}} ' + ' '.join(f'{n[:col]:>{col}}' for n in names))
    for name, row in zip(names, matrix):
        print(f'{name:>{width}} ' + ' '.join(f'{v:>{col}d}' for v in row))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
