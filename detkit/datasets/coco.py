"""COCO-format detection datasets (``instances_*.json`` + an image folder)."""
import contextlib
import difflib
import io
import json
import os
from collections import Counter
from typing import Dict, List

from pycocotools.coco import COCO

from detkit.registry import DATASETS
from .base_det_dataset import BaseDetDataset, make_palette, sanitize_box

COCO_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat',
    'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack',
    'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball',
    'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket',
    'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair',
    'couch', 'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse',
    'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier',
    'toothbrush')

COCO_DOWNLOAD_HINT = (
    'To use COCO 2017, download from https://cocodataset.org/#download the files '
    'http://images.cocodataset.org/zips/train2017.zip, '
    'http://images.cocodataset.org/zips/val2017.zip and '
    'http://images.cocodataset.org/annotations/annotations_trainval2017.zip, and unzip them '
    'into data/coco/ so that it holds annotations/instances_train2017.json, '
    'annotations/instances_val2017.json, train2017/ and val2017/ (or point data_root '
    'elsewhere). To try detkit without downloading anything, use '
    'configs/retinanet_r18_fpn_synthetic.py, which trains on a generated dataset.')


def read_json(path: str, what: str = 'Annotation file') -> dict:
    """Load a JSON file; a syntax error names the file, line and column."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'{what} {path} is not valid JSON: {err.msg} at line {err.lineno}, '
                         f'column {err.colno}.') from None


@DATASETS.register_module()
class CocoDataset(BaseDetDataset):
    """A COCO-format dataset, read with pycocotools.

    ``metainfo=dict(classes=(...))`` selects categories by their ``name`` in the
    file and orders the labels: label ``i`` is ``classes[i]``. Category ids need
    not be contiguous. To select by id (and name the classes freely), also give
    ``metainfo['cat_ids']``, one per class. After loading, ``cat_ids`` (original
    ids in label order) and ``cat2label`` are attributes and ``metainfo`` holds
    ``cat_ids`` and ``ann_file`` (absolute path; the COCO metric falls back to it).

    ``iscrowd=1`` boxes become ignore regions (``ignore_flag=1``). Boxes are
    clipped to their image or dropped when degenerate; annotations of other
    categories are ignored; both are counted in one warning per dataset.

    Args:
        ann_file: the annotation JSON, relative to ``data_root`` unless absolute.
        data_prefix: ``dict(img='train2017/')``, the image folder under ``data_root``.
        **kwargs: see :class:`BaseDetDataset`.
    """

    METAINFO = dict(classes=COCO_CLASSES, palette=make_palette(len(COCO_CLASSES)))

    def __init__(self, ann_file: str = '', data_prefix: dict = dict(img=''), **kwargs):
        self.cat_ids: List[int] = []
        self.cat2label: Dict[int, int] = {}
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def read_annotations(self, counts: Counter, details: Dict[str, str]) -> List[dict]:
        data = self._read_file()
        self._map_categories(data['categories'])
        img_prefix = self.data_prefix.get('img', '')
        anns = [a for a in data.get('annotations', []) if self._well_formed(a, counts)]
        coco = COCO()
        coco.dataset = dict(data, annotations=anns)
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
        unknown_ids: set = set()
        data_list, num_used = [], 0
        for index, img in enumerate(data['images']):
            missing = [k for k in ('id', 'file_name', 'width', 'height') if k not in img]
            if missing:
                raise ValueError(f'{self.name}: images[{index}] lacks {missing}: {img}')
            instances = []
            for ann in coco.imgToAnns.get(img['id'], []):
                num_used += 1
                if ann['category_id'] not in self.cat2label:
                    counts['unknown_category'] += 1
                    unknown_ids.add(ann['category_id'])
                    continue
                x, y, w, h = ann['bbox']
                box = sanitize_box(x, y, x + w, y + h, img['width'], img['height'], counts)
                if box is not None:
                    instances.append(dict(bbox=box,
                                          bbox_label=self.cat2label[ann['category_id']],
                                          ignore_flag=int(bool(ann.get('iscrowd', 0)))))
            data_list.append(dict(img_path=os.path.join(img_prefix, img['file_name']),
                                  img_id=img['id'], width=img['width'], height=img['height'],
                                  instances=instances))
        counts['orphan'] += len(anns) - num_used
        shown = sorted(unknown_ids, key=str)
        if shown:
            details['unknown_category'] = (
                f' (category ids {shown[:8]}{" ..." if len(shown) > 8 else ""})')
        return data_list

    def _read_file(self) -> dict:
        path = self.ann_file
        if not os.path.isfile(path):
            msg = f'COCO annotation file not found: {path} (absolute: {os.path.abspath(path)}).'
            if 'data/coco' in os.path.normpath(path).replace(os.sep, '/'):
                msg += ' ' + COCO_DOWNLOAD_HINT
            raise FileNotFoundError(msg)
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get('images'), list) \
                or not isinstance(data.get('categories'), list):
            raise ValueError(f'Annotation file {path} is not in COCO format: it needs a JSON '
                             'object with lists "images", "categories" and (optionally) '
                             '"annotations".')
        return data

    @staticmethod
    def _well_formed(ann: dict, counts: Counter) -> bool:
        bbox = ann.get('bbox')
        ok = ('image_id' in ann and 'category_id' in ann and isinstance(bbox, list)
              and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox))
        if not ok:
            counts['malformed'] += 1
        return ok

    def _map_categories(self, categories: List[dict]) -> None:
        """Set ``cat_ids`` / ``cat2label`` from ``classes`` (or ``metainfo['cat_ids']``)."""
        classes = self._class_names()
        ids_in_file = [c['id'] for c in categories]
        if self._metainfo.get('cat_ids'):
            cat_ids = list(self._metainfo['cat_ids'])
            absent = [i for i in cat_ids if i not in ids_in_file]
            if len(cat_ids) != len(classes) or absent:
                raise ValueError(f'{self.name}: metainfo cat_ids {cat_ids} must give one id '
                                 f'per class ({len(classes)}) and exist in the file; absent: '
                                 f'{absent}; the file has ids {ids_in_file}.')
        else:
            name2ids: Dict[str, List[int]] = {}
            for cat in categories:
                name2ids.setdefault(cat['name'], []).append(cat['id'])
            absent = [c for c in classes if c not in name2ids]
            if absent:
                raise ValueError(self._absent_classes_message(absent, list(name2ids)))
            twice = [c for c in classes if len(name2ids[c]) > 1]
            if twice:
                raise ValueError(f'{self.name}: categories {twice} appear more than once in '
                                 "the file; select them by id with metainfo['cat_ids'].")
            cat_ids = [name2ids[c][0] for c in classes]
        self.cat_ids = cat_ids
        self.cat2label = {cat_id: label for label, cat_id in enumerate(cat_ids)}
        self._metainfo.update(classes=classes, cat_ids=cat_ids,
                              ann_file=os.path.abspath(self.ann_file))
        if len(self._metainfo.get('palette', ())) < len(classes):
            self._metainfo['palette'] = make_palette(len(classes))

    def _absent_classes_message(self, absent: List[str], names: List[str]) -> str:
        hints = {c: difflib.get_close_matches(c, names, n=1) for c in absent}
        hinted = [f'{c!r} (did you mean {h[0]!r}?)' if h else repr(c) for c, h in hints.items()]
        return (f'{self.name}: {len(absent)} of the {len(self._class_names())} `classes` are '
                f'not category names in the annotation file: {", ".join(hinted[:10])}. The '
                f'file\'s categories are {names[:20]}{" ..." if len(names) > 20 else ""}. Set '
                'metainfo=dict(classes=(...)) in the dataset config to the names you train on.')
