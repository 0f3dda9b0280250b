"""A detkit detector (RetinaNet by default), built from its config, with one timed closure
per measure."""
import copy
import logging
from typing import Callable, List

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from torch import Tensor

from detkit.models.utils import fuse_conv_bn
from detkit.registry import MODELS
from detkit.structures import DetDataSample
from .inputs import Batch
from .options import BenchOptions, autocast


def build_detkit(opts: BenchOptions) -> torch.nn.Module:
    """The detector of ``opts.config`` (randomly initialised, no checkpoint read)."""
    import detkit.models  # noqa: F401  (registers the components)
    cfg = Config.fromfile(opts.config).model
    cfg.backbone.init_cfg = None
    cfg.bbox_head.num_classes = opts.num_classes
    cfg.test_cfg.max_per_img = opts.max_per_img
    model = MODELS.build(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter at INFO
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model.to(opts.torch_device)


class DetkitSide:
    """detkit's closures: ``train_step``, ``infer``, ``loss_part``, ``postprocess``."""

    name = 'detkit'

    def __init__(self, opts: BenchOptions) -> None:
        self.opts = opts
        self.device = opts.torch_device
        self.model = build_detkit(opts)
        if opts.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._infer_model = None
        if opts.compile:  # copy before compiling: compiled modules do not deep-copy
            self._infer_model = self._make_infer_model()
            self._compile(self.model)
            self._compile(self._infer_model)

    def _make_infer_model(self) -> torch.nn.Module:
        model = copy.deepcopy(self.model).eval()
        if self.opts.fuse_bn:
            fuse_conv_bn(model)
        return model

    @property
    def infer_model(self) -> torch.nn.Module:
        """A copy of the model for inference (BN folded with ``fuse_bn``), made on first use
        so that a training-only run does not hold two models."""
        if self._infer_model is None:
            self._infer_model = self._make_infer_model()
        return self._infer_model

    @staticmethod
    def _compile(model: torch.nn.Module) -> None:
        model.backbone = torch.compile(model.backbone)
        model.neck = torch.compile(model.neck)
        model.bbox_head.forward = torch.compile(model.bbox_head.forward)

    @property
    def head(self):
        return self.model.bbox_head

    def _samples(self, batch: Batch, with_gt: bool) -> List[DetDataSample]:
        h, w = batch.size
        samples = []
        for i in range(len(batch)):
            sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                                 scale_factor=(1.0, 1.0)))
            if with_gt:
                sample.gt_instances = InstanceData(bboxes=batch.boxes[i].to(self.device),
                                                   labels=batch.labels[i].to(self.device))
            samples.append(sample)
        return samples

    def _data(self, batch: Batch, with_gt: bool) -> dict:
        images = batch.images.to(self.device)
        return dict(inputs=list(images), data_samples=self._samples(batch, with_gt))

    def _preprocess(self, model: torch.nn.Module, data: dict, training: bool) -> dict:
        data = model.data_preprocessor(data, training)
        if self.opts.channels_last:
            data['inputs'] = data['inputs'].contiguous(memory_format=torch.channels_last)
        return data

    def train_step(self, batch: Batch) -> Callable[[], None]:
        """Forward, loss and backward of one batch (gradients dropped each time)."""
        model, data = self.model, self._data(batch, with_gt=True)

        def step() -> None:
            model.train()
            model.zero_grad(set_to_none=True)
            with autocast(self.device, self.opts.amp):
                losses = model(**self._preprocess(model, data, True), mode='loss')
            sum(losses.values()).backward()
        return step

    def infer(self, batch: Batch) -> Callable[[], None]:
        """``predict`` of one batch, boxes rescaled to the original image."""
        model, data = self.infer_model, self._data(batch, with_gt=False)

        def step() -> None:
            with torch.inference_mode(), autocast(self.device, self.opts.amp):
                model(**self._preprocess(model, data, False), mode='predict')
        return step

    def _metas(self, batch: Batch) -> List[dict]:
        h, w = batch.size
        pad = (-(-h // 32) * 32, -(-w // 32) * 32)
        return [dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0),
                     pad_shape=pad, batch_input_shape=pad) for _ in range(len(batch))]

    def _native(self, maps: List[Tensor]) -> List[Tensor]:
        """Fixed head outputs on the device, in the memory format this model's convs give."""
        fmt = torch.channels_last if self.opts.channels_last else torch.contiguous_format
        return [m.to(self.device).contiguous(memory_format=fmt) for m in maps]

    def loss_part(self, batch: Batch, *maps: List[Tensor]) -> Callable[[], None]:
        """Priors, assignment, the head's losses and their backward from fixed head outputs
        (one list of levels per output: RetinaNet's cls and box maps, ATSS's centerness …)."""
        outs = [[m.requires_grad_() for m in self._native(level_maps)] for level_maps in maps]
        gts = [InstanceData(bboxes=b.to(self.device), labels=lb.to(self.device))
               for b, lb in zip(batch.boxes, batch.labels)]
        metas = self._metas(batch)

        def step() -> None:
            for level_maps in outs:
                for t in level_maps:
                    t.grad = None
            losses = self.head.loss_by_feat(*outs, gts, metas)
            sum(losses.values()).backward()
        return step

    def postprocess(self, batch: Batch, cls_maps: List[Tensor],
                    reg_maps: List[Tensor]) -> Callable[[], None]:
        """Top-k, decode, NMS and rescale from fixed head outputs."""
        cls, reg = self._native(cls_maps), self._native(reg_maps)
        metas = self._metas(batch)

        def step() -> List[InstanceData]:
            with torch.inference_mode():
                return self.head.predict_by_feat(cls, reg, batch_img_metas=metas, rescale=True)
        return step
