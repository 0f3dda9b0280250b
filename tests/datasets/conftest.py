"""Tiny COCO / VOC datasets written into tmp_path."""
import json
import os

import cv2
import numpy as np
import pytest

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


@pytest.fixture
def log_messages():
    """The messages mmengine's current logger emits during the test."""
    import logging

    from mmengine.logging import MMLogger

    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Collect(level=logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)  # an earlier test may have left a WARNING-level logger current
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)
