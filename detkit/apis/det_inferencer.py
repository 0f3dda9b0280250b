"""Detect objects in many images, draw them and write them down: ``DetInferencer``."""
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from detkit.structures import DetDataSample
from .inference import ImageInput, build_test_pipeline, init_detector, predict_batch

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(inputs: Union[ImageInput, Sequence[ImageInput]]) -> List[ImageInput]:
    """Arrays and image files as given; a folder becomes its image files, sorted.

    Raises ``FileNotFoundError`` naming a path that does not exist and
    ``ValueError`` for a folder without images.
    """
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    images: List[ImageInput] = []
    for item in items:
        if isinstance(item, np.ndarray):
            images.append(item)
            continue
        path = os.fspath(item)
        if osp.isdir(path):
            found = sorted(osp.join(path, name) for name in os.listdir(path)
                           if name.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise ValueError(f'folder {path} holds no image files '
                                 f'({", ".join(IMAGE_EXTENSIONS)})')
            images += found
        elif osp.isfile(path):
            images.append(path)
        else:
            raise FileNotFoundError(f'input image not found: {path}')
    return images


def to_record(sample: DetDataSample, score_thr: float = 0.0) -> Dict[str, Any]:
    """A JSON-ready dict of one image's detections with ``score >= score_thr``."""
    pred = sample.pred_instances
    keep = (pred.scores >= score_thr).nonzero().flatten().tolist()
    return dict(
        img_path=sample.metainfo.get('img_path'),
        ori_shape=list(sample.metainfo['ori_shape']),
        bboxes=[[round(float(v), 2) for v in pred.bboxes[i]] for i in keep],
        scores=[round(float(pred.scores[i]), 4) for i in keep],
        labels=[int(pred.labels[i]) for i in keep],
        label_names=[pred.label_names[i] for i in keep])


class DetInferencer:
    """A detector ready to run on folders of images, as MMDetection's ``DetInferencer``.

    Example::

        inferencer = DetInferencer('configs/retinanet_r18_fpn_synthetic.py', 'epoch_10.pth')
        out = inferencer('demo/', out_dir='outputs', score_thr=0.3)
        out['predictions'][0]['label_names']

    Args:
        model: config file (or :class:`mmengine.Config`).
        weights: checkpoint file; ``None`` for random weights.
        device: ``'cpu'`` or ``'cuda'`` (``None``: CUDA when available).
        cfg_options: config overrides with dotted keys.
    """

    def __init__(self, model, weights: Optional[str] = None, device: Optional[str] = None,
                 cfg_options: Optional[dict] = None) -> None:
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.model = init_detector(model, weights, device=device, cfg_options=cfg_options)
        self.pipeline = build_test_pipeline(self.model.cfg)
        self._visualizer = None

    @property
    def dataset_meta(self) -> dict:
        return self.model.dataset_meta

    def __call__(self, inputs: Union[ImageInput, Sequence[ImageInput]], batch_size: int = 1,
                 out_dir: Optional[str] = None, score_thr: float = 0.3,
                 return_vis: bool = False, show_progress: Optional[bool] = None
                 ) -> Dict[str, list]:
        """Detect, and with ``out_dir`` write ``vis/<name>.png`` and ``detections.json``.

        Args:
            inputs: image files, folders of images, BGR arrays, or a list of them.
            batch_size: images per forward pass.
            out_dir: where pictures and the JSON go (``None``: nowhere).
            score_thr: the lowest score drawn and reported.
            return_vis: also return the drawn RGB pictures.
            show_progress: progress bar on stderr; ``None``: for more than one batch.

        Returns:
            ``dict(predictions=[per image dict(img_path, ori_shape, bboxes
            (xyxy, original pixels), scores, labels, label_names)],
            visualization=[RGB arrays] or [])``.
        """
        images = list_images(inputs)
        if batch_size < 1:
            raise ValueError(f'batch_size must be at least 1, got {batch_size}')
        if show_progress is None:
            show_progress = len(images) > batch_size
        bar = ProgressBar(len(images), file=sys.stderr) if show_progress else None
        predictions: List[dict] = []
        drawn: List[np.ndarray] = []
        names = _output_names(images)
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            samples = predict_batch(self.model, chunk, self.pipeline, start)
            for offset, (image, sample) in enumerate(zip(chunk, samples)):
                predictions.append(to_record(sample, score_thr))
                if out_dir is not None or return_vis:
                    picture = self.draw(image, sample, score_thr)
                    if out_dir is not None:
                        _write_png(osp.join(out_dir, 'vis', names[start + offset]), picture)
                    if return_vis:
                        drawn.append(picture)
                if bar is not None:
                    bar.update()
        if bar is not None:
            sys.stderr.write('\n')
        if out_dir is not None:
            self._write_json(osp.join(out_dir, 'detections.json'), predictions, names)
        return dict(predictions=predictions, visualization=drawn)

    def draw(self, image: ImageInput, sample: DetDataSample, score_thr: float) -> np.ndarray:
        """The RGB picture of ``image`` with the boxes of ``sample`` scoring ``>= score_thr``."""
        from detkit.visualization import DetLocalVisualizer
        if self._visualizer is None:
            self._visualizer = DetLocalVisualizer(name='detkit_inferencer')
            self._visualizer.dataset_meta = self.dataset_meta
        bgr = cv2.imread(image, cv2.IMREAD_COLOR) if isinstance(image, str) else image
        if bgr.ndim == 2:
            bgr = np.repeat(bgr[..., None], 3, axis=2)
        return self._visualizer.draw_instances(np.ascontiguousarray(bgr[..., ::-1]),
                                               sample.pred_instances, score_thr=score_thr)

    def _write_json(self, path: str, predictions: List[dict], names: List[str]) -> None:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        records = [dict(record, vis=osp.join('vis', name))
                   for record, name in zip(predictions, names)]
        with open(path, 'w') as f:  # one line per image: readable and diffable
            f.write('{"classes": ' + json.dumps(list(self.dataset_meta['classes']))
                    + ',\n "images": [\n  '
                    + ',\n  '.join(json.dumps(r) for r in records) + '\n]}\n')
        print_log(f'Detections of {len(records)} images written to {path}', logger='current')


def _output_names(images: Sequence[ImageInput]) -> List[str]:
    """``<stem>.png`` per image (``image_<i>.png`` for arrays), made unique."""
    names, seen = [], set()
    for i, image in enumerate(images):
        stem = (osp.splitext(osp.basename(image))[0] if isinstance(image, str)
                else f'image_{i}')
        name, k = f'{stem}.png', 1
        while name in seen:
            name, k = f'{stem}_{k}.png', k + 1
        seen.add(name)
        names.append(name)
    return names


def _write_png(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f'could not write {path}')
