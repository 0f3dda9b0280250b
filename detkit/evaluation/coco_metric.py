"""COCO box AP/AR with pycocotools' numbers, under MMDetection's metric names."""
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from pycocotools.coco import COCO

from detkit.registry import METRICS
from .coco_format import (category_ids, load_coco, prediction_record, results_array,
                          write_results_json)
from .fast_eval import evaluate_bbox, resolve_backend

# COCOeval.stats index of each number, named as MMDetection names them.
STAT_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l',
              'AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')


def classwise_table(coco_eval: Any, classes: Sequence[str]) -> str:
    """Per-class AP, AP50, AP75, APs/m/l (``-`` where a class has no gt).

    ``coco_eval``: an evaluated pycocotools ``COCOeval`` (or faster-coco-eval's).
    """
    precision = coco_eval.eval['precision']  # [T iou, R recall, K cls, A area, M maxdets]
    iou_thrs = list(np.round(coco_eval.params.iouThrs, 2))
    columns = (('mAP', slice(None), 0), ('mAP_50', [iou_thrs.index(0.5)], 0),
               ('mAP_75', [iou_thrs.index(0.75)], 0), ('mAP_s', slice(None), 1),
               ('mAP_m', slice(None), 2), ('mAP_l', slice(None), 3))
    rows = []
    for k, name in enumerate(classes):
        cells = []
        for _, ious, area in columns:
            p = precision[ious, :, k, area, -1]
            p = p[p > -1]
            cells.append(f'{p.mean():.3f}' if p.size else '-')
        rows.append([name] + cells)
    header = ['category'] + [c[0] for c in columns]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    fmt = '|' + '|'.join(f' {{:<{w}}} ' for w in widths) + '|'
    return '\n'.join([line, fmt.format(*header), line]
                     + [fmt.format(*r) for r in rows] + [line])


@METRICS.register_module()
class CocoMetric(BaseMetric):
    """COCO bbox evaluation (pycocotools ``COCOeval`` numbers).

    Logs 12 numbers as ``coco/bbox_mAP``, ``coco/bbox_mAP_50``, ``_75``,
    ``_s``, ``_m``, ``_l``, ``coco/bbox_AR@100``, ``AR@300``, ``AR@1000``,
    ``AR_s@1000``, ``AR_m@1000``, ``AR_l@1000`` (rounded to 3 decimals, as
    MMDetection). Predictions are expected in original-image pixels (the
    model's ``predict`` with ``rescale=True``); label ``i`` is mapped to the
    annotation file's category of ``dataset_meta['classes'][i]`` (by the
    dataset's ``cat_ids`` when it gives them, else by name).

    Args:
        ann_file: COCO annotation file with the ground truth. ``None`` takes
            ``dataset_meta['ann_file']``, which detkit's COCO datasets set.
        metric: only ``'bbox'``.
        classwise: also log a per-class AP table.
        proposal_nums: COCOeval ``maxDets``; AP uses the last, the ARs each.
        format_only: only write the results JSON (e.g. for test-dev), no
            evaluation; needs ``outfile_prefix``.
        outfile_prefix: write ``<outfile_prefix>.bbox.json`` (COCO results).
        backend_args: mmengine file-backend arguments to read ``ann_file``.
        eval_backend: ``'auto'`` (``faster-coco-eval`` when installed, else
            pycocotools), ``'pycocotools'`` or ``'faster_coco_eval'``; both
            give the same 12 numbers (see :mod:`detkit.evaluation.fast_eval`).
        collect_device / prefix: see :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self, ann_file: Optional[str] = None, metric: str = 'bbox',
                 classwise: bool = False, proposal_nums: Sequence[int] = (100, 300, 1000),
                 format_only: bool = False, outfile_prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None, eval_backend: str = 'auto',
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if metrics != ['bbox']:
            raise ValueError(f'CocoMetric evaluates metric="bbox" only, got {metric!r}')
        if format_only and outfile_prefix is None:
            raise ValueError('CocoMetric(format_only=True) writes the results JSON and '
                             'needs outfile_prefix, e.g. outfile_prefix="./work_dirs/test"')
        if len(proposal_nums) != 3:
            raise ValueError(f'proposal_nums needs 3 numbers, got {proposal_nums!r}')
        self.ann_file = ann_file
        self.classwise = classwise
        self.proposal_nums = list(proposal_nums)
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.backend_args = backend_args
        self.eval_backend = resolve_backend(eval_backend)
        self._coco: Optional[COCO] = None
        self._coco_file: Optional[str] = None

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(prediction_record(s) for s in data_samples)

    def _ground_truth(self) -> COCO:
        ann_file = self.ann_file or (self.dataset_meta or {}).get('ann_file')
        if ann_file is None:
            raise ValueError('CocoMetric needs the ground truth: set ann_file in '
                             'val_evaluator / test_evaluator, or use a dataset whose '
                             "metainfo has 'ann_file' (detkit's CocoDataset does).")
        if self._coco is None or self._coco_file != ann_file:
            self._coco = load_coco(ann_file, self.backend_args)
            self._coco_file = ann_file
        return self._coco

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        coco = self._ground_truth()
        meta = self.dataset_meta or {}
        classes = meta.get('classes') or [c['name'] for c in coco.dataset['categories']]
        label_to_cat = category_ids(coco, classes, meta.get('cat_ids'))
        rows = results_array(results, label_to_cat)
        if self.outfile_prefix is not None:
            path = write_results_json(rows, f'{self.outfile_prefix}.bbox.json')
            print_log(f'COCO results of {len(results)} images written to {path}',
                      logger='current')
        if self.format_only:
            return {}
        keys = [f'bbox_{name}' for name in STAT_NAMES]
        if len(rows) == 0:
            print_log('No detections on the whole evaluation set: all COCO metrics are 0.',
                      logger='current', level=logging.WARNING)
            return OrderedDict((k, 0.0) for k in keys)
        img_ids = list(dict.fromkeys(int(r['img_id']) for r in results))
        stats, coco_eval, output = evaluate_bbox(coco, rows, label_to_cat, img_ids,
                                                 self.proposal_nums, self.eval_backend)
        summary = [line for line in output.splitlines()
                   if line.lstrip().startswith('Average')]
        print_log('\n' + '\n'.join(summary), logger='current')
        if self.classwise:
            print_log('\n' + classwise_table(coco_eval, classes), logger='current')
        return OrderedDict((k, float(f'{v:.3f}')) for k, v in zip(keys, stats))
