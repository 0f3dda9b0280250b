"""Single-stage detector: backbone → neck → dense head, on mmengine's BaseModel."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from detkit.registry import MODELS
from detkit.structures import DetDataSample, GtBatch
from detkit.utils.compat import UnsupportedVersionError


@MODELS.register_module()
class SingleStageDetector(BaseModel):
    """Backbone, optional neck and a dense head, with mmengine's three modes.

    ``forward(inputs, data_samples, mode)`` where ``inputs`` is the
    preprocessed batch ``[B, 3, H, W]``:

    * ``mode='loss'``: dict of scalar losses (mmengine sums keys with "loss").
    * ``mode='predict'``: the ``data_samples`` with ``pred_instances``
      (``bboxes [D, 4]`` xyxy in original-image pixels, ``scores``, ``labels``).
    * ``mode='tensor'``: the head's raw outputs ``(cls_scores, bbox_preds)``,
      per level ``[B, A*K, H, W]`` and ``[B, A*4, H, W]`` (for export).

    Args:
        backbone, neck, bbox_head: MODELS configs.
        train_cfg, test_cfg: handed to the head.
        data_preprocessor: MODELS config, e.g. ``DetDataPreprocessor``.
        channels_last: keep the conv weights in channels_last memory format
            (tensor cores on CUDA prefer it; the convolutions then give
            channels_last maps). ``tools/train.py`` and ``tools/test.py`` turn
            it on when CUDA is there (:mod:`detkit.engine.device_defaults`).
        compile: ``torch.compile`` the backbone, the neck and the head's
            forward in place (``nn.Module.compile``, state_dict keys
            unchanged); a dict is passed as keyword arguments, e.g.
            ``dict(mode='max-autotune')``. Losses and post-processing stay eager.
    """

    def __init__(self, backbone: Dict, bbox_head: Dict, neck: Optional[Dict] = None,
                 train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None,
                 data_preprocessor: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None, channels_last: bool = False,
                 compile: Union[bool, Dict] = False) -> None:
        if isinstance(data_preprocessor, dict):
            # built here, not by BaseModel, so detkit's registry is used without a default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        bbox_head = dict(bbox_head)
        bbox_head.setdefault('train_cfg', train_cfg)
        bbox_head.setdefault('test_cfg', test_cfg)
        self.bbox_head = MODELS.build(bbox_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self._check_wiring()
        if channels_last:
            self.to(memory_format=torch.channels_last)
        if compile:
            self._compile(compile if isinstance(compile, dict) else {})

    def _compile(self, options: Dict) -> None:
        if not hasattr(nn.Module, 'compile'):
            raise UnsupportedVersionError(f'model.compile needs nn.Module.compile, which torch '
                                          f'{torch.__version__} does not have: torch>=2.2')
        for module in (self.backbone, self.neck, self.bbox_head):
            if module is not None:
                module.compile(**options)

    def _check_wiring(self) -> None:
        """Catch backbone/neck/head mismatches at build time, in words."""
        maps = getattr(self.backbone, 'out_channels', None)
        neck_in = getattr(self.neck, 'in_channels', None)
        if maps is not None and neck_in is not None and list(maps) != list(neck_in):
            raise ValueError(f'model.backbone ({type(self.backbone).__name__}) gives feature '
                             f'maps of {list(maps)} channels but model.neck.in_channels='
                             f'{list(neck_in)}: set the neck\'s in_channels={list(maps)} or '
                             f'change the backbone\'s out_indices')
        num_outs = getattr(self.neck, 'num_outs', None)
        generator = getattr(self.bbox_head, 'prior_generator', None)  # a DenseHead's
        if num_outs is not None and generator is not None and generator.num_levels != num_outs:
            raise ValueError(
                f'model.neck gives {num_outs} feature levels (num_outs) but '
                f'model.bbox_head.{self.bbox_head.priors_key} has {generator.num_levels} strides '
                f'{list(generator.strides)}: give one stride per neck output')
        out_channels = getattr(self.neck, 'out_channels', None)
        in_channels = getattr(self.bbox_head, 'in_channels', None)
        if out_channels is not None and in_channels is not None and out_channels != in_channels:
            raise ValueError(f'model.neck.out_channels={out_channels} but '
                             f'model.bbox_head.in_channels={in_channels}: they must be equal')

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """``[B, 3, H, W]`` → FPN features, per level ``[B, C, H/s, W/s]``."""
        feats = self.backbone(inputs)
        return self.neck(feats) if self.neck is not None else feats

    def forward(self, inputs: Tensor, data_samples: Optional[List[DetDataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[DetDataSample], tuple]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.bbox_head(self.extract_feat(inputs))
        raise ValueError(f'{type(self).__name__}.forward: mode must be "loss", "predict" '
                         f'or "tensor", got {mode!r}')

    def loss(self, inputs: Tensor, data_samples: List[DetDataSample]) -> Dict[str, Tensor]:
        """Scalar losses of the batch."""
        return self.bbox_head.loss(self.extract_feat(inputs), data_samples)

    def loss_from_gts(self, inputs: Tensor, gts: GtBatch) -> Dict[str, Tensor]:
        """Scalar losses of a batch whose gts are already padded (static shapes, no sync)."""
        return self.bbox_head.loss_by_feat(*self.bbox_head(self.extract_feat(inputs)), gts)

    def predict(self, inputs: Tensor, data_samples: List[DetDataSample],
                rescale: bool = True) -> List[DetDataSample]:
        """Attach ``pred_instances`` to every sample and return the samples."""
        results = self.bbox_head.predict(self.extract_feat(inputs), data_samples,
                                         rescale=rescale)
        for sample, pred in zip(data_samples, results):
            sample.pred_instances = pred
        return data_samples
