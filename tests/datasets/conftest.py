"""Tiny COCO / VOC datasets written into tmp_path."""
import json
import os

import cv2
import numpy as np
import pytest

from detkit.datasets import VOCDataset

CATEGORIES = [dict(id=1, name='cat'), dict(id=3, name='dog'), dict(id=7, name='bird')]


def write_image(path: str, width: int, height: int, value: int = 128) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = np.full((height, width, 3), value, np.uint8)
    img[:, : width // 2, 0] = 255  # not uniform, so flips are visible
    cv2.imwrite(path, img)


@pytest.fixture
def make_coco(tmp_path):
    """``make_coco(images, annotations, categories=CATEGORIES)`` -> data_root.

    ``images`` are ``(id, width, height)``; each gets ``img/<id>.png``.
    """

    def make(images, annotations, categories=CATEGORIES, write_images=True, name='ann.json'):
        root = tmp_path / 'coco'
        infos = []
        for img_id, width, height in images:
            file_name = f'{img_id}.png'
            infos.append(dict(id=img_id, file_name=file_name, width=width, height=height))
            if write_images:
                write_image(str(root / 'img' / file_name), width, height)
        anns = [dict(dict(id=i + 1, iscrowd=0), **a) for i, a in enumerate(annotations)]
        (root / 'annotations').mkdir(parents=True, exist_ok=True)
        (root / 'annotations' / name).write_text(
            json.dumps(dict(images=infos, annotations=anns, categories=categories)))
        return str(root)

    return make


@pytest.fixture
def build_coco():
    """``build_coco(data_root, **kwargs)`` -> CocoDataset over ``make_coco``'s files."""
    from detkit.datasets import CocoDataset

    def build(root, **kwargs):
        kwargs.setdefault('metainfo', dict(classes=('cat', 'dog', 'bird')))
        return CocoDataset(data_root=root, ann_file='annotations/ann.json',
                           data_prefix=dict(img='img/'), **kwargs)

    return build


def obj(name, box, difficult=0):
    x1, y1, x2, y2 = box
    return (f'<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>'
            f'<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>'
            '</bndbox></object>')


def make_voc(tmp_path, images, size_in_xml=True):
    """``images``: ``{name: (width, height, [object xml, ...])}`` -> data_root."""
    sub = tmp_path / 'VOCdevkit' / 'VOC2007'
    (sub / 'Annotations').mkdir(parents=True)
    (sub / 'ImageSets' / 'Main').mkdir(parents=True)
    for name, (width, height, objects) in images.items():
        write_image(str(sub / 'JPEGImages' / f'{name}.jpg'), width, height)
        size = (f'<size><width>{width}</width><height>{height}</height><depth>3</depth></size>'
                if size_in_xml else '')
        (sub / 'Annotations' / f'{name}.xml').write_text(
            f'<annotation><filename>{name}.jpg</filename>{size}{"".join(objects)}</annotation>')
    (sub / 'ImageSets' / 'Main' / 'test.txt').write_text('\n'.join(images) + '\n')
    return str(tmp_path / 'VOCdevkit')


def build_voc(root, **kwargs):
    return VOCDataset(data_root=root, ann_file='VOC2007/ImageSets/Main/test.txt',
                      data_prefix=dict(sub_data_root='VOC2007/'), **kwargs)
