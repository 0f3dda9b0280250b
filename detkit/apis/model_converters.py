"""Checkpoints from elsewhere into detkit's format, and publishing them.

* MMDetection (2.x and 3.x) RetinaNet checkpoints already use detkit's
  parameter names: :func:`clean_checkpoint` keeps only the weights and the
  class names.
* torchvision's ``retinanet_resnet50_fpn`` (v1) state dicts are renamed by
  :func:`convert_torchvision_retinanet`; with
  ``configs/retinanet_r50_fpn_torchvision.py`` the result computes
  torchvision's outputs.
* :func:`publish_checkpoint` drops training state and puts the first 8 hex
  digits of the file's SHA-256 into its name.
"""
import argparse
import hashlib
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import torch
from mmengine.config import Config, DictAction

from detkit.registry import MODELS
from .inference import load_weights, state_dict_of

# Meta entries worth keeping in a released checkpoint; everything else (optimizer
# state, schedulers, message hub, config text) is only needed to resume training.
KEPT_META = ('dataset_meta', 'mmengine_version', 'detkit_version', 'mmdet_version',
             'converted_from', 'epoch', 'iter', 'seed', 'experiment_name')

_TV_RULES = (
    (r'backbone\.body\.(.*)', r'backbone.\1'),
    (r'backbone\.fpn\.inner_blocks\.(\d+)\.(?:0\.)?(weight|bias)', r'neck.lateral_convs.\1.conv.\2'),
    (r'backbone\.fpn\.layer_blocks\.(\d+)\.(?:0\.)?(weight|bias)', r'neck.fpn_convs.\1.conv.\2'),
    (r'head\.classification_head\.cls_logits\.(weight|bias)', r'bbox_head.retina_cls.\1'),
    (r'head\.regression_head\.bbox_reg\.(weight|bias)', r'bbox_head.retina_reg.\1'),
)
_TV_TOWERS = {'classification_head': 'cls_convs', 'regression_head': 'reg_convs'}


def clean_checkpoint(ckpt: Dict[str, Any]) -> Dict[str, Any]:
    """``dict(state_dict, meta)`` of a checkpoint: no optimizer, schedulers, message hub.

    MMDetection 2.x's ``meta['CLASSES']`` becomes ``meta['dataset_meta']['classes']``;
    DDP's ``module.`` prefix is dropped.
    """
    state = OrderedDict(state_dict_of(ckpt))
    if not state:
        raise ValueError('the checkpoint holds no tensors: is it a model checkpoint?')
    old_meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    meta = {k: old_meta[k] for k in KEPT_META if k in old_meta}
    if 'dataset_meta' not in meta and old_meta.get('CLASSES'):
        meta['dataset_meta'] = dict(classes=tuple(old_meta['CLASSES']))
    if 'dataset_meta' in meta:  # plain tuples/lists only: loadable with weights_only
        meta['dataset_meta'] = {k: _plain(v) for k, v in meta['dataset_meta'].items()}
    return dict(state_dict=state, meta=meta)


def _plain(value: Any) -> Any:
    """Lists, tuples and numbers instead of numpy values."""
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value.tolist() if hasattr(value, 'tolist') else value


def torchvision_state_dict(ckpt: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The weights of a torchvision file: a state dict or a training checkpoint's ``model``."""
    state = ckpt.get('model', ckpt) if isinstance(ckpt.get('model'), dict) else ckpt
    if not any(k.startswith('head.classification_head.') for k in state):
        raise ValueError('not a torchvision RetinaNet state dict: no '
                         '"head.classification_head.*" keys (found e.g. '
                         f'{", ".join(list(state)[:3]) or "nothing"})')
    return state


def convert_torchvision_retinanet(state: Dict[str, torch.Tensor]
                                  ) -> Tuple[Dict[str, torch.Tensor], int]:
    """Rename a torchvision ``retinanet_resnet50_fpn`` state dict to detkit's names.

    Accepts both torchvision layouts (``conv.0.weight, conv.2.weight`` … of
    the 2020 release and ``conv.0.0.weight`` … of current versions). Adds
    the ``num_batches_tracked`` buffers that ``FrozenBatchNorm2d`` lacks.
    The extra levels ``p6``, ``p7`` follow the FPN outputs in ``fpn_convs``.

    Returns:
        ``(state_dict, num_classes)``.
    """
    state = torchvision_state_dict(state)
    num_levels = len({k.split('.')[3] for k in state
                      if k.startswith('backbone.fpn.layer_blocks.')})
    tower_index: Dict[str, Dict[int, int]] = {}
    names = {key: _detkit_name(key, state, num_levels, tower_index) for key in state}
    unknown = [key for key, name in names.items() if name is None]
    if unknown:
        raise ValueError(f'{len(unknown)} keys of the torchvision state dict have no detkit '
                         f'name: {", ".join(unknown[:5])}')
    out: Dict[str, torch.Tensor] = OrderedDict((names[k], v) for k, v in state.items())
    for key in [k for k in out if k.endswith('.running_var')]:
        out.setdefault(key[:-len('running_var')] + 'num_batches_tracked', torch.tensor(0))
    num_anchors = out['bbox_head.retina_reg.weight'].shape[0] // 4
    return out, out['bbox_head.retina_cls.weight'].shape[0] // num_anchors


def _detkit_name(key: str, state: Dict[str, Any], num_levels: int,
                 tower_index: Dict[str, Dict[int, int]]) -> Optional[str]:
    """detkit's name of torchvision's parameter ``key``; None for an unknown key."""
    name = _tv_tower_key(key, state, tower_index)
    if name is not None:
        return name
    extra = re.fullmatch(r'backbone\.fpn\.extra_blocks\.p(\d)\.(weight|bias)', key)
    if extra:  # p6, p7 come after the FPN outputs P3..P5
        return f'neck.fpn_convs.{num_levels + int(extra.group(1)) - 6}.conv.{extra.group(2)}'
    for pattern, replacement in _TV_RULES:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def _tv_tower_key(key: str, state: Dict[str, Any],
                  tower_index: Dict[str, Dict[int, int]]) -> Optional[str]:
    """``head.<tower>.conv.<i>[.0].<param>`` → ``bbox_head.<cls|reg>_convs.<n>.conv.<param>``.

    In the old layout convs and ReLUs alternate (``conv.0, conv.2`` …): the
    n-th conv is the n-th index that has weights.
    """
    match = re.fullmatch(r'head\.(classification_head|regression_head)\.conv\.(\d+)\.(?:0\.)?'
                         r'(weight|bias)', key)
    if match is None:
        return None
    tower = match.group(1)
    if tower not in tower_index:
        pattern = re.compile(rf'head\.{tower}\.conv\.(\d+)\.(?:0\.)?weight')
        indices = sorted(int(m.group(1)) for m in map(pattern.fullmatch, state) if m)
        tower_index[tower] = {idx: n for n, idx in enumerate(indices)}
    n = tower_index[tower][int(match.group(2))]
    return f'bbox_head.{_TV_TOWERS[tower]}.{n}.conv.{match.group(3)}'


def coco91_to_coco80(state: Dict[str, torch.Tensor], classes: Tuple[str, ...]
                     ) -> Tuple[Dict[str, torch.Tensor], Tuple[str, ...]]:
    """Keep the classifier channels of the 80 COCO classes of torchvision's 91 labels.

    torchvision's label ``i`` is COCO category id ``i`` (``__background__``
    and ``N/A`` fill the unused ids); detkit's COCO labels count only the 80
    real categories, in id order.
    """
    keep = [i for i, name in enumerate(classes) if name not in ('__background__', 'N/A')]
    weight, bias = state['bbox_head.retina_cls.weight'], state['bbox_head.retina_cls.bias']
    num_classes = len(classes)
    num_anchors = weight.shape[0] // num_classes
    if num_anchors * num_classes != weight.shape[0]:
        raise ValueError(f'the classifier has {weight.shape[0]} channels, not a multiple of '
                         f'the {num_classes} torchvision COCO labels')
    out = OrderedDict(state)
    out['bbox_head.retina_cls.weight'] = weight.reshape(
        num_anchors, num_classes, *weight.shape[1:])[:, keep].reshape(-1, *weight.shape[1:])
    out['bbox_head.retina_cls.bias'] = bias.reshape(num_anchors, num_classes)[:, keep].reshape(-1)
    return out, tuple(classes[i] for i in keep)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def publish_checkpoint(ckpt: Dict[str, Any], out_file: str) -> str:
    """Save the cleaned ``ckpt`` as ``<out stem>-<sha256[:8]>.pth``; returns that path."""
    stem = re.sub(r'\.pth$', '', out_file)
    os.makedirs(osp.dirname(osp.abspath(stem)) or '.', exist_ok=True)
    tmp = f'{stem}.tmp.pth'
    torch.save(clean_checkpoint(ckpt), tmp)
    final = f'{stem}-{sha256_of(tmp)[:8]}.pth'
    os.replace(tmp, final)
    return final


def add_converter_args(parser: argparse.ArgumentParser,
                       default_config: Optional[str] = None) -> None:
    """The converter tools' shared arguments: ``src dst``, ``--unsafe-load`` and,
    with a ``default_config``, the ``--config`` / ``--cfg-options`` of the check."""
    parser.add_argument('src', help='checkpoint or state dict file to read')
    parser.add_argument('dst', help='checkpoint to write')
    if default_config is not None:
        parser.add_argument('--config', default=default_config,
                            help=f'config the weights must load into strictly '
                            f'(default {default_config})')
        parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                            metavar='KEY=VALUE',
                            help='config overrides, e.g. model.bbox_head.num_classes=20')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='read a file that pickles Python objects (only if you trust it)')


def save_verified(ckpt: Dict[str, Any], cfg: Config, source: str, dst: str) -> None:
    """Load ``ckpt['state_dict']`` strictly into the model of ``cfg``, then save ``ckpt``.

    Raises a ValueError listing missing, unexpected and mis-shaped keys, and
    writes nothing, when the weights do not fit.
    """
    load_weights(MODELS.build(cfg.model), ckpt['state_dict'], source)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(ckpt, dst)
