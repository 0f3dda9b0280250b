"""Write every image's predictions to a file (``tools/test.py --out``)."""
import os
import pickle
from typing import Any, Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from detkit.registry import METRICS
from .coco_format import (category_ids, load_coco, prediction_record, results_array,
                          write_results_json)


@METRICS.register_module()
class DumpDetResults(BaseMetric):
    """Save predictions: ``.pkl`` (per image: ``img_id``, ``img_path``,
    ``ori_shape``, numpy ``bboxes [D, 4]`` xyxy original pixels, ``scores``,
    ``labels``) or ``.json`` (COCO results: ``image_id``, ``bbox`` xywh,
    ``score``, ``category_id`` of the annotation file).

    Args:
        out_file: path ending in ``.pkl`` / ``.pickle`` or ``.json``.
        ann_file: for ``.json``, the annotation file whose category ids the
            labels map to; ``None`` takes ``dataset_meta['ann_file']``.
    """

    default_prefix = 'dump'

    def __init__(self, out_file: str, ann_file: Optional[str] = None,
                 collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device)
        if not out_file.endswith(('.pkl', '.pickle', '.json')):
            raise ValueError(f'--out must end in .pkl, .pickle or .json, got {out_file!r}')
        self.out_file = out_file
        self.ann_file = ann_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(prediction_record(s) for s in data_samples)

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        os.makedirs(os.path.dirname(os.path.abspath(self.out_file)), exist_ok=True)
        if self.out_file.endswith('.json'):
            meta = self.dataset_meta or {}
            ann_file = self.ann_file or meta.get('ann_file')
            if ann_file is None:
                raise ValueError('--out *.json maps labels to COCO category ids and needs '
                                 "the annotation file (dataset metainfo 'ann_file')")
            coco = load_coco(ann_file)
            classes = meta.get('classes') or [c['name'] for c in coco.dataset['categories']]
            rows = results_array(results, category_ids(coco, classes, meta.get('cat_ids')))
            write_results_json(rows, self.out_file)
        else:
            with open(self.out_file, 'wb') as f:
                pickle.dump(results, f)
        print_log(f'Predictions of {len(results)} images written to {self.out_file}',
                  logger='current')
        return {}
