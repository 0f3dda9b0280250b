"""Images, a checkpoint of the demo model, and running tools as subprocesses."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from detkit.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'retinanet_r18_fpn_synthetic.py'
CLASSES = ('circle', 'square', 'triangle', 'bar', 'ellipse')


def draw_scene(width: int, height: int, seed: int) -> np.ndarray:
    """A BGR ``uint8`` picture with a few filled shapes on a noisy background."""
    rng = np.random.default_rng(seed)
    img = rng.integers(80, 120, size=(height, width, 3), dtype=np.uint8)
    for _ in range(3):
        x, y = int(rng.integers(10, width - 40)), int(rng.integers(10, height - 40))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x, y), (x + 30, y + 30), colour, -1)
    return img


@pytest.fixture(scope='session')
def image_dir(tmp_path_factory):
    """Three images: 128x96, 96x128 (w x h) as .jpg and 160x160 as .png."""
    folder = tmp_path_factory.mktemp('images')
    for name, (w, h) in {'a.jpg': (128, 96), 'b.jpg': (96, 128), 'c.png': (160, 160)}.items():
        cv2.imwrite(str(folder / name), draw_scene(w, h, seed=len(name) + w))
    return folder


@pytest.fixture(scope='session')
def demo_weights(tmp_path_factory):
    """A checkpoint of the demo model (seeded random weights, a classifier bias that
    lets boxes through) with the class names in its meta, as tools/train.py writes."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DEMO).model)
    model.init_weights()
    with torch.no_grad():
        model.bbox_head.retina_cls.bias.fill_(0.0)
    path = tmp_path_factory.mktemp('weights') / 'demo.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, path)
    return path


@pytest.fixture(scope='session')
def run_script():
    """``run_script('tools/infer.py', *args)`` → ``CompletedProcess`` (text, captured)."""

    def run(script, *args, timeout=120):
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
        env.pop('DETKIT_DEBUG', None)
        return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=timeout)

    return run


def load_tool(script: str):
    """The module of a tool script (``tools/infer.py``), imported in this process."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(Path(script).stem, REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
