"""The last pipeline step: the result dict becomes ``inputs`` + ``DetDataSample``."""
from typing import Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData

from detkit.registry import TRANSFORMS
from detkit.structures import DetDataSample
from .base import BaseTransform

# Meta keys a pipeline without Resize / RandomFlip leaves at their identity.
_IDENTITY_META = {'scale_factor': (1.0, 1.0), 'flip': False, 'flip_direction': None}


def _instances(boxes: np.ndarray, labels: np.ndarray) -> InstanceData:
    return InstanceData(bboxes=torch.from_numpy(np.asarray(boxes, np.float32).reshape(-1, 4)),
                        labels=torch.from_numpy(np.asarray(labels, np.int64).reshape(-1)))


@TRANSFORMS.register_module()
class PackDetInputs(BaseTransform):
    """Pack the image and annotations for the model.

    Returns ``dict(inputs, data_samples)``:

    - ``inputs``: ``uint8`` tensor ``[3, H, W]``, BGR, contiguous.
    - ``data_samples``: :class:`DetDataSample` with ``gt_instances``
      (``bboxes [N, 4]`` float32 xyxy, ``labels [N]`` int64) and
      ``ignored_instances`` (``bboxes [M, 4]``, ``labels [M]``: the boxes whose
      ``gt_ignore_flags`` is set; always present, maybe empty), and the
      ``meta_keys`` as metainfo.

    Args:
        meta_keys: result keys copied into the sample's metainfo. A missing
            ``scale_factor`` / ``flip`` / ``flip_direction`` takes its identity
            value; any other missing key is an error.
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape',
                                                   'img_shape', 'scale_factor', 'flip',
                                                   'flip_direction')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

        boxes = results.get('gt_bboxes', np.zeros((0, 4), np.float32))
        labels = results.get('gt_bboxes_labels', np.zeros(len(boxes), np.int64))
        ignore = results.get('gt_ignore_flags', np.zeros(len(boxes), bool))
        sample = DetDataSample()
        sample.gt_instances = _instances(boxes[~ignore], labels[~ignore])
        sample.ignored_instances = _instances(boxes[ignore], labels[ignore])

        meta = {}
        for key in self.meta_keys:
            if key in results:
                meta[key] = results[key]
            elif key in _IDENTITY_META:
                meta[key] = _IDENTITY_META[key]
            else:
                raise KeyError(f'PackDetInputs: meta key {key!r} is not in the results of '
                               f'{results.get("img_path")}; available keys: '
                               f'{sorted(results)}. Add the transform that sets it or '
                               'remove it from meta_keys.')
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)
