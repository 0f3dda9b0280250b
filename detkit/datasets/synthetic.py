"""detkit's embedded dataset: synthetic scenes of coloured shapes in COCO format.

``generate_synthetic_coco(root)`` draws, deterministically from a seed,
``root/{train,val}/*.jpg`` and ``root/annotations/instances_{train,val}.json``.
``ensure_synthetic_dataset()`` does so once into detkit's cache folder and
reuses it afterwards, so the demo config trains with no download.

Each image (256x256, 256x192 or 192x256) has a textured, noisy background,
clutter that is not a class (outlines, lines, blobs, letters) and 1-8
objects of five classes that differ in shape, aspect ratio and (loosely,
hues overlap) colour; long sides from 8 to 200 px, mostly 24-96; objects
may occlude each other up to half. Some images hold a crowd of tiny discs
annotated as one ``iscrowd=1`` region.
"""
import colorsys
import json
import os
import shutil
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from .cache import cache_root

SYNTHETIC_CLASSES = ('circle', 'square', 'triangle', 'bar', 'ellipse')
CLASS_HUES = (0.0, 120.0, 240.0, 60.0, 300.0)  # degrees; jittered, so neighbours overlap
IMAGE_SIZES = ((256, 256), (256, 192), (192, 256))  # (w, h)
NUM_OBJECTS_P = (0.10, 0.16, 0.18, 0.16, 0.13, 0.11, 0.09, 0.07)  # P(1..8 objects)
VERSION = 'synthetic_v1'
MARKER = 'synthetic.json'  # written last: its presence means the set is complete
SPLITS = ('train', 'val')
SHIFT = 4  # cv2 fixed-point bits: shapes are placed with 1/16 px precision
Scene = Tuple[np.ndarray, List[dict]]


def _colour(rng: np.random.Generator, hue: float) -> Tuple[int, int, int]:
    """A BGR colour of the given hue (degrees) with random saturation and value."""
    r, g, b = colorsys.hsv_to_rgb((hue % 360.0) / 360.0, rng.uniform(0.55, 1.0),
                                  rng.uniform(0.55, 1.0))
    return int(b * 255), int(g * 255), int(r * 255)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Smooth colour gradients, sometimes stripes: ``uint8 [h, w, 3]``."""
    low = rng.uniform(-70, 70, size=(3, 3, 3)).astype(np.float32)
    img = rng.uniform(50, 205, size=3).astype(np.float32) + cv2.resize(
        low, (w, h), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.35:
        angle, period = rng.uniform(0, np.pi), rng.uniform(5, 24)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        img += (rng.uniform(8, 25) * wave)[..., None]
    return img.clip(0, 255).astype(np.uint8)


def _clutter(rng: np.random.Generator, img: np.ndarray) -> None:
    """Draw 2-8 things that are not objects: outlines, lines, blobs, letters."""
    h, w = img.shape[:2]
    for _ in range(rng.integers(2, 9)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(6, 50))
        kind = rng.integers(5)
        if kind == 0:
            cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + int(r * rng.uniform(0.3, 2))),
                          colour, int(rng.integers(1, 3)), cv2.LINE_AA)
        elif kind == 1:
            cv2.circle(img, (cx, cy), r, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
        elif kind == 2:
            end = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, (cx, cy), end, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
        elif kind == 3:
            n = int(rng.integers(5, 9))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = r * rng.uniform(0.3, 1.0, n)
            pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
            cv2.fillPoly(img, [pts.astype(np.int32)], colour, cv2.LINE_AA)
        else:
            text = ''.join(chr(c) for c in rng.integers(65, 91, int(rng.integers(1, 4))))
            cv2.putText(img, text, (cx, cy), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 1.2),
                        colour, int(rng.integers(1, 3)), cv2.LINE_AA)


def _object_size(rng: np.random.Generator, label: int) -> Tuple[float, float]:
    """``(w, h)`` of an object: long side 8-200 px (mostly 24-96), class aspect."""
    u = rng.random()
    long_side = rng.uniform(8, 24) if u < 0.2 else rng.uniform(24, 96) if u < 0.75 \
        else rng.uniform(96, 200)
    name = SYNTHETIC_CLASSES[label]
    if name == 'triangle':
        return long_side, long_side * rng.uniform(0.8, 1.0)
    if name == 'bar':
        return long_side, max(3.0, long_side / rng.uniform(2.5, 4.0))
    if name == 'ellipse':
        return max(3.0, long_side / rng.uniform(1.8, 3.0)), long_side
    return long_side, long_side


def _draw_shape(canvas: np.ndarray, label: int, box: Tuple[float, float, float, float],
                colour, line_type: int, flip: bool) -> None:
    """Fill the class's shape inscribed in the xywh ``box`` on ``canvas``."""
    x, y, w, h = (v * (1 << SHIFT) for v in box)
    name = SYNTHETIC_CLASSES[label]
    if name in ('circle', 'ellipse'):
        centre = (int(x + w / 2), int(y + h / 2))
        cv2.ellipse(canvas, centre, (int(w / 2), int(h / 2)), 0, 0, 360, colour, -1,
                    line_type, SHIFT)
        return
    if name == 'triangle':
        apex, base = (y + h, y) if flip else (y, y + h)
        pts = [(x + w / 2, apex), (x + w, base), (x, base)]
    else:
        pts = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    cv2.fillPoly(canvas, [np.array(pts, dtype=np.int32)], colour, line_type, SHIFT)


def _tight_box(mask: np.ndarray) -> Optional[List[int]]:
    """xywh of the nonzero pixels (pixel-edge coordinates), or ``None``."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1)]


def _crowd_mask(rng: np.random.Generator, img: np.ndarray) -> Tuple[np.ndarray, tuple]:
    """A cluster of 8-15 tiny discs in a 40-80 px region (one iscrowd=1 region)."""
    h, w = img.shape[:2]
    side = int(rng.integers(40, 81))
    x0, y0 = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
    colour = _colour(rng, CLASS_HUES[0] + rng.normal(0, 15))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(8, 16)):
        cx, cy = int(rng.integers(x0 + 3, x0 + side - 3)), int(rng.integers(y0 + 3, y0 + side - 3))
        cv2.circle(mask, (cx, cy), int(rng.integers(2, 4)), 1, -1)
    return mask, colour


def render_scene(rng: np.random.Generator) -> Scene:
    """One image (BGR ``uint8``) and its objects ``dict(label, bbox xywh, area, iscrowd)``."""
    w, h = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    img = _background(rng, w, h)
    _clutter(rng, img)
    top = np.full((h, w), -1, np.int16)  # index of the object seen at each pixel
    objects: List[dict] = []
    full_areas: List[int] = []

    def place(mask: np.ndarray, obj: dict) -> bool:
        # The new object goes on top; refuse it if an older one would keep < half.
        covered = np.bincount(top[mask > 0] + 1, minlength=len(objects) + 1)[1:]
        visible = np.bincount(top.ravel() + 1, minlength=len(objects) + 1)[1:]
        if np.any((visible - covered) * 2 < np.array(full_areas, dtype=np.int64)):
            return False
        top[mask > 0] = len(objects)
        full_areas.append(int(mask.sum()))
        objects.append(obj)
        return True

    if rng.random() < 0.05:
        mask, colour = _crowd_mask(rng, img)
        place(mask, dict(label=0, bbox=_tight_box(mask), iscrowd=1))
        img[mask > 0] = colour
    for _ in range(rng.choice(len(NUM_OBJECTS_P), p=NUM_OBJECTS_P) + 1):
        for _attempt in range(30):
            label = int(rng.integers(len(SYNTHETIC_CLASSES)))
            bw, bh = _object_size(rng, label)
            fit = min(1.0, (w - 2) / bw, (h - 2) / bh)
            bw, bh = bw * fit, bh * fit
            box = (rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh)
            flip = bool(rng.random() < 0.5)
            mask = np.zeros((h, w), np.uint8)
            _draw_shape(mask, label, box, 1, cv2.LINE_8, flip)
            tight = _tight_box(mask)
            if tight is not None and place(mask, dict(label=label, bbox=tight, iscrowd=0)):
                colour = _colour(rng, CLASS_HUES[label] + rng.normal(0, 15))
                _draw_shape(img, label, box, colour, cv2.LINE_AA, flip)
                break
    areas = np.bincount(top.ravel() + 1, minlength=len(objects) + 1)[1:]
    for obj, area in zip(objects, areas):
        obj['area'] = int(area)
    noisy = img.astype(np.int16) + rng.normal(0, rng.uniform(3, 10), img.shape).astype(np.int16)
    img = noisy.clip(0, 255).astype(np.uint8)
    if rng.random() < 0.25:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    return img, objects


def _write_split(root: str, split: str, num_images: int, seed: int) -> str:
    img_dir = os.path.join(root, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        # One generator per image: image i is the same whatever num_images is.
        rng = np.random.default_rng([seed, SPLITS.index(split), index])
        img, objects = render_scene(rng)
        file_name = f'{index + 1:06d}.jpg'
        cv2.imwrite(os.path.join(img_dir, file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        images.append(dict(id=index + 1, file_name=file_name, width=img.shape[1],
                           height=img.shape[0]))
        for obj in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=index + 1,
                                    category_id=obj['label'] + 1, bbox=obj['bbox'],
                                    area=obj['area'], iscrowd=obj['iscrowd']))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SYNTHETIC_CLASSES)]
    ann_file = os.path.join(root, 'annotations', f'instances_{split}.json')
    os.makedirs(os.path.dirname(ann_file), exist_ok=True)
    with open(ann_file, 'w') as f:
        json.dump(dict(info=dict(description=f'detkit {VERSION}', seed=seed), images=images,
                       annotations=annotations, categories=categories), f)
    return ann_file


def generate_synthetic_coco(root: str, num_train: int = 1000, num_val: int = 200,
                            seed: int = 0) -> Dict[str, str]:
    """Write the synthetic dataset into ``root`` (same seed: byte-identical JSON).

    Returns the paths: ``root``, ``train_ann``, ``val_ann``, ``train_img``,
    ``val_img``.
    """
    paths = dict(root=root)
    for split, num in zip(SPLITS, (num_train, num_val)):
        paths[f'{split}_ann'] = _write_split(root, split, num, seed)
        paths[f'{split}_img'] = os.path.join(root, split)
    with open(os.path.join(root, MARKER), 'w') as f:
        json.dump(dict(version=VERSION, num_train=num_train, num_val=num_val, seed=seed), f)
    return paths


def default_synthetic_root() -> str:
    """``<cache>/synthetic_v1``; the cache is ``$DETKIT_DATA`` or ``~/.cache/detkit``."""
    return os.path.join(cache_root(), VERSION)


def ensure_synthetic_dataset(root: Optional[str] = None, num_train: int = 1000,
                             num_val: int = 200, seed: int = 0) -> str:
    """Return the root of a complete synthetic dataset, generating it if needed.

    An existing complete set in ``root`` is reused as it is (whatever its
    sizes and seed; delete the folder to regenerate). A new one is generated
    into a temporary folder beside ``root`` and renamed into place, so a
    killed generation never leaves a half dataset and concurrent callers
    (e.g. distributed ranks) agree on one.
    """
    root = os.path.abspath(root or default_synthetic_root())
    marker = os.path.join(root, MARKER)
    if os.path.isfile(marker):
        return root
    if os.path.isdir(root) and os.listdir(root):
        raise FileExistsError(f'{root} exists but is not a complete synthetic dataset (no '
                              f'{MARKER}); delete it or choose another data_root.')
    os.makedirs(os.path.dirname(root), exist_ok=True)
    print_log(f'Generating the synthetic dataset ({num_train} train / {num_val} val images) '
              f'into {root} ...', logger='current')
    start = time.time()
    tmp = tempfile.mkdtemp(dir=os.path.dirname(root), prefix=f'.{os.path.basename(root)}-')
    try:
        generate_synthetic_coco(tmp, num_train, num_val, seed)
        try:
            os.rename(tmp, root)
        except OSError:
            if not os.path.isfile(marker):  # not another process finishing first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_log(f'Synthetic dataset ready in {time.time() - start:.1f}s.', logger='current')
    return root
