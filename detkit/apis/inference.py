"""Run a trained detector on images: ``init_detector`` and ``inference_detector``.

``init_detector`` builds the model of a config, loads a checkpoint safely
(``weights_only`` with detkit's allow-list) and attaches the class names;
``inference_detector`` runs the config's test pipeline on image files or
arrays, in batches, and returns :class:`~detkit.structures.DetDataSample`\\ s
whose ``pred_instances`` are in original-image pixels.
"""
import copy
import logging
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log

from detkit.datasets.base_det_dataset import make_palette
from detkit.engine.checkpoint import state_dict_mismatch
from detkit.engine.checkpoint_sources import load_from_source
from detkit.registry import MODELS, TRANSFORMS
from detkit.structures import DetDataSample
from detkit.utils import dataset_metainfo, load_config

ImageInput = Union[str, np.ndarray]
# Pipeline steps inference leaves out: it reads images itself and has no labels.
_LOADERS = ('LoadImageFromFile', 'LoadAnnotations')


def as_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """A :class:`Config` from a path or a config object (copied), with overrides."""
    if isinstance(config, (str, os.PathLike)):
        config = load_config(os.fspath(config), cfg_options)
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
        if cfg_options:
            config.merge_from_dict(cfg_options)
    else:
        raise TypeError(f'config must be a file path or an mmengine Config, '
                        f'got {type(config).__name__}')
    if 'model' not in config:
        raise ValueError(f'config {config.filename or ""} has no "model" entry')
    return config


def read_checkpoint(path: str) -> Dict[str, Any]:
    """A checkpoint as a dict, loaded with ``weights_only=True`` and detkit's allow-list.

    ``path`` may be a local file, ``torchvision://NAME`` or a URL (downloaded
    once into the cache, see :mod:`detkit.engine.checkpoint_sources`).
    Raises ``FileNotFoundError`` for a missing file and
    :class:`detkit.engine.UnsafeCheckpointError` for a file that pickles code
    (``detkit.engine.set_unsafe_load(True)`` trusts it).
    """
    ckpt = load_from_source(str(path), map_location='cpu')
    if not isinstance(ckpt, dict):
        raise TypeError(f'checkpoint {path} holds a {type(ckpt).__name__}, not a dict of '
                        f'tensors (a state dict) or a dict with a "state_dict" entry')
    return ckpt


def state_dict_of(ckpt: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The model weights of a checkpoint dict, without DDP's ``module.`` prefix."""
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise TypeError(f'the checkpoint\'s "state_dict" is a {type(state).__name__}, '
                        f'not a dict of tensors')
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()
            if isinstance(v, torch.Tensor)}


def load_weights(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor],
                 source: str) -> None:
    """``model.load_state_dict(strict=True)``, or an error listing what differs."""
    problem = state_dict_mismatch(model.state_dict(), state_dict)
    if problem is not None:
        raise ValueError(f'checkpoint {source} does not match the model of the config: '
                         f'{problem}')
    model.load_state_dict(state_dict, strict=True)


def dataset_meta_of(cfg: Config, ckpt_meta: Optional[dict], num_classes: int) -> dict:
    """Class names and palette: the checkpoint's, else the config's test dataset's.

    Names that do not fit the model's ``num_classes`` are replaced by
    ``class 0``, ``class 1`` … with a warning.
    """
    meta: Dict[str, Any] = {}
    if ckpt_meta:
        meta = dict(ckpt_meta.get('dataset_meta') or {})
        if 'classes' not in meta and ckpt_meta.get('CLASSES'):  # MMDetection 2.x
            meta['classes'] = tuple(ckpt_meta['CLASSES'])
    if 'classes' not in meta:
        meta.update(dataset_metainfo((cfg.get('test_dataloader') or {}).get('dataset') or {}))
    classes = tuple(meta.get('classes') or ())
    if len(classes) != num_classes:
        if classes:
            print_log(f'{len(classes)} class names for a model with {num_classes} classes; '
                      f'using "class 0", "class 1", ...', logger='current',
                      level=logging.WARNING)
        classes = tuple(f'class {i}' for i in range(num_classes))
        meta.pop('palette', None)
    palette = [tuple(int(c) for c in color) for color in meta.get('palette') or ()]
    if len(palette) < num_classes:
        palette = make_palette(num_classes)
    return dict(meta, classes=classes, palette=palette)




def init_detector(config: Union[str, Config], checkpoint: Optional[str] = None,
                  device: str = 'cpu', cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the detector of ``config`` and load ``checkpoint`` into it.

    Args:
        config: config file or :class:`Config`.
        checkpoint: a detkit/MMDetection checkpoint or a bare state dict file;
            ``None`` keeps random weights (with a warning).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'`` …
        cfg_options: overrides with dotted keys, e.g.
            ``{'model.test_cfg.score_thr': 0.3}``.

    Returns:
        the model in eval mode on ``device``, with ``model.cfg`` (the config)
        and ``model.dataset_meta`` (``classes``, ``palette``).
    """
    import detkit.models  # noqa: F401  (registers the models)
    cfg = as_config(config, cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    # the checkpoint (or nothing) gives the weights: no pretrained backbone file is read
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None
    model = MODELS.build(model_cfg)
    ckpt_meta = None
    if checkpoint is None:
        print_log('init_detector: no checkpoint given, the model has random weights',
                  logger='current', level=logging.WARNING)
    else:
        ckpt = read_checkpoint(checkpoint)
        load_weights(model, state_dict_of(ckpt), checkpoint)
        ckpt_meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else None
    model.cfg = cfg
    model.dataset_meta = dataset_meta_of(cfg, ckpt_meta, model.bbox_head.num_classes)
    return model.to(_device(device)).eval()


def _device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f'device {device!r} is not a device; use "cpu", "cuda" or '
                         f'"cuda:N"') from None
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'device {device!r} asked for, but CUDA is not available here; '
                           f'use device="cpu"')
    return dev


def build_test_pipeline(cfg: Config) -> List[Any]:
    """The config's test transforms after image loading (annotations dropped), built."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    steps = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not steps:
        raise KeyError('the config has no test pipeline (test_dataloader.dataset.pipeline '
                       'or test_pipeline): inference needs one to resize and pack images')
    return [TRANSFORMS.build(copy.deepcopy(step)) for step in steps
            if step.get('type') not in _LOADERS]


def load_image(image: ImageInput, index: int = 0) -> dict:
    """The pipeline's result dict for a file path or a BGR ``uint8 [H, W, 3]`` array."""
    if isinstance(image, (str, os.PathLike)):
        loader = TRANSFORMS.build(dict(type='LoadImageFromFile'))
        results = loader(dict(img_path=os.fspath(image)))
    elif isinstance(image, np.ndarray):
        img = image
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'image {index}: an array must be [H, W, 3] (BGR) or [H, W], '
                             f'got shape {image.shape}')
        results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                       img_path=None)
    else:
        raise TypeError(f'image {index}: expected a file path or a numpy array, '
                        f'got {type(image).__name__}')
    results['img_id'] = index
    return results


def prepare_batch(images: Sequence[ImageInput], pipeline: Sequence[Any],
                  first_index: int = 0) -> dict:
    """Load and transform ``images`` into a collated ``dict(inputs, data_samples)``."""
    packed = []
    for i, image in enumerate(images):
        results = load_image(image, first_index + i)
        for transform in pipeline:
            results = transform(results)
        packed.append(results)
    return pseudo_collate(packed)


def inference_detector(model: torch.nn.Module,
                       images: Union[ImageInput, Sequence[ImageInput]],
                       batch_size: int = 1) -> Union[DetDataSample, List[DetDataSample]]:
    """Detect objects in one image or a list of them.

    Args:
        model: from :func:`init_detector`.
        images: an image file path or a BGR ``uint8 [H, W, 3]`` array (as
            ``cv2.imread`` gives), or a list of them.
        batch_size: images per forward pass.

    Returns:
        per image a :class:`DetDataSample` whose ``pred_instances`` holds
        ``bboxes [D, 4]`` (xyxy, original pixels), ``scores [D]``, ``labels
        [D]`` and ``label_names`` (a list of ``D`` class names), by
        descending score; a single sample for a single image.
    """
    single = not isinstance(images, (list, tuple))
    images = [images] if single else list(images)
    if batch_size < 1:
        raise ValueError(f'batch_size must be at least 1, got {batch_size}')
    pipeline = build_test_pipeline(model.cfg)
    results: List[DetDataSample] = []
    for start in range(0, len(images), batch_size):
        results += predict_batch(model, images[start:start + batch_size], pipeline, start)
    return results[0] if single else results


def predict_batch(model: torch.nn.Module, images: Sequence[ImageInput],
                  pipeline: Sequence[Any], first_index: int = 0) -> List[DetDataSample]:
    """One forward pass over ``images``; samples with ``pred_instances`` (see above)."""
    data = prepare_batch(images, pipeline, first_index)
    with torch.no_grad():
        samples = model.test_step(data)
    classes = model.dataset_meta['classes']
    for sample in samples:
        pred = sample.pred_instances
        pred.label_names = [classes[int(i)] for i in pred.labels]
    return samples
