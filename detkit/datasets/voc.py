"""Pascal VOC datasets (``Annotations/*.xml`` + ``ImageSets/Main/<split>.txt``)."""
import hashlib
import json
import os
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Dict, List

from PIL import Image

from detkit.registry import DATASETS
from .base_det_dataset import BaseDetDataset, make_palette, sanitize_box
from .cache import atomic_write_text, cache_root

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')


def _float(node: ET.Element, tag: str, xml_path: str) -> float:
    child = node.find(tag)
    try:
        return float(child.text)
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f'{xml_path}: <{node.tag}> has no numeric <{tag}>.') from None


@DATASETS.register_module()
class VOCDataset(BaseDetDataset):
    """A Pascal VOC dataset.

    ``ann_file`` is a split list (``VOC2007/ImageSets/Main/trainval.txt``),
    one image name per line; ``data_prefix=dict(sub_data_root='VOC2007/')``
    holds ``Annotations/<name>.xml`` and ``JPEGImages/<name>.jpg``.

    VOC's 1-based inclusive pixel boxes become xyxy pixels
    ``[xmin - 1, ymin - 1, xmax, ymax]``; ``difficult`` objects become ignore
    regions. ``img_id`` is the 1-based line number in the split file (the
    name is kept as ``voc_name``).

    In ``test_mode`` the ground truth is also written as a COCO-format JSON
    under detkit's cache folder and named by ``metainfo['ann_file']``, so
    the COCO metric evaluates VOC (difficult objects as ``iscrowd=1``, which
    COCOeval ignores, as VOC's evaluation does).

    Args:
        ann_file: the split list, relative to ``data_root`` unless absolute.
        data_prefix: ``dict(sub_data_root=...)`` relative to ``data_root``.
        **kwargs: see :class:`BaseDetDataset`.
    """

    METAINFO = dict(classes=VOC_CLASSES, palette=make_palette(len(VOC_CLASSES)))

    def __init__(self, ann_file: str = '', data_prefix: dict = dict(sub_data_root=''),
                 **kwargs):
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def read_annotations(self, counts: Counter, details: Dict[str, str]) -> List[dict]:
        if not os.path.isfile(self.ann_file):
            raise FileNotFoundError(f'VOC split file not found: {self.ann_file} (absolute: '
                                    f'{os.path.abspath(self.ann_file)}).')
        with open(self.ann_file) as f:
            names = [line.strip() for line in f if line.strip()]
        classes = self._class_names()
        label_of = {name: label for label, name in enumerate(classes)}
        root = self.data_prefix.get('sub_data_root', '')
        unknown: Counter = Counter()
        data_list = []
        for index, name in enumerate(names):
            xml_path = os.path.join(root, 'Annotations', f'{name}.xml')
            img_path = os.path.join(root, 'JPEGImages', f'{name}.jpg')
            tree = self._parse_xml(xml_path)
            width, height = self._image_size(tree, xml_path, img_path)
            instances = []
            for obj in tree.findall('object'):
                cls_name = (obj.findtext('name') or '').strip()
                if cls_name not in label_of:
                    counts['unknown_category'] += 1
                    unknown[cls_name] += 1
                    continue
                bnd = obj.find('bndbox')
                if bnd is None:
                    counts['malformed'] += 1
                    continue
                box = sanitize_box(_float(bnd, 'xmin', xml_path) - 1,
                                   _float(bnd, 'ymin', xml_path) - 1,
                                   _float(bnd, 'xmax', xml_path),
                                   _float(bnd, 'ymax', xml_path), width, height, counts)
                if box is not None:
                    difficult = int(float(obj.findtext('difficult') or 0))
                    instances.append(dict(bbox=box, bbox_label=label_of[cls_name],
                                          ignore_flag=int(bool(difficult))))
            data_list.append(dict(img_path=img_path, img_id=index + 1, voc_name=name,
                                  width=width, height=height, instances=instances))
        if unknown:
            details['unknown_category'] = f' (names {sorted(unknown)[:8]})'
        self._metainfo['classes'] = classes
        if self.test_mode:
            self._metainfo['ann_file'] = self._write_coco_gt(data_list, classes)
            self._metainfo['cat_ids'] = list(range(1, len(classes) + 1))
        return data_list

    def _parse_xml(self, xml_path: str) -> ET.Element:
        if not os.path.isfile(xml_path):
            raise FileNotFoundError(f'VOC annotation {xml_path} not found; its image is '
                                    f'listed in the split file {self.ann_file}.')
        try:
            return ET.parse(xml_path).getroot()
        except ET.ParseError as err:
            line, column = err.position
            raise ValueError(f'VOC annotation {xml_path} is not valid XML: {err.msg} at '
                             f'line {line}, column {column}.') from None

    def _image_size(self, tree: ET.Element, xml_path: str, img_path: str) -> tuple:
        """``(width, height)`` from ``<size>``, else from the image file's header."""
        size = tree.find('size')
        if size is not None and size.findtext('width') and size.findtext('height'):
            return int(_float(size, 'width', xml_path)), int(_float(size, 'height', xml_path))
        if not os.path.isfile(img_path):
            raise FileNotFoundError(f'Image file {img_path} not found; it is listed in the '
                                    f'split file {self.ann_file}.')
        with Image.open(img_path) as img:
            return img.size

    def _write_coco_gt(self, data_list: List[dict], classes: tuple) -> str:
        """Write the ground truth as COCO JSON in the cache; return its path."""
        images, annotations = [], []
        for info in data_list:
            images.append(dict(id=info['img_id'], file_name=os.path.basename(info['img_path']),
                               width=info['width'], height=info['height']))
            for inst in info['instances']:
                x1, y1, x2, y2 = inst['bbox']
                annotations.append(dict(id=len(annotations) + 1, image_id=info['img_id'],
                                        category_id=inst['bbox_label'] + 1,
                                        bbox=[x1, y1, x2 - x1, y2 - y1],
                                        area=(x2 - x1) * (y2 - y1),
                                        iscrowd=inst['ignore_flag']))
        categories = [dict(id=i + 1, name=name) for i, name in enumerate(classes)]
        text = json.dumps(dict(images=images, annotations=annotations, categories=categories))
        key = hashlib.sha1(os.path.abspath(self.ann_file).encode()).hexdigest()[:10]
        split = os.path.splitext(os.path.basename(self.ann_file))[0]
        path = os.path.join(cache_root(), 'voc_coco_gt', f'{split}-{key}.json')
        atomic_write_text(path, text)
        return path
