"""torchvision's RetinaNet set up like detkit's, with the same closures as :mod:`detkit_side`.

``retinanet_resnet50_fpn(weights=None, weights_backbone=None)`` builds a
backbone with plain ``BatchNorm2d`` (batch statistics in training) and every
layer trainable: torchvision freezes only when a pretrained backbone is
loaded (it ignores ``trainable_backbone_layers`` otherwise). We make the
model that the pretrained path would give — every backbone BN a
``FrozenBatchNorm2d``, stem and layer1 without gradients (trainable layers
3) — so that both sides freeze the same layers.
"""
from typing import Callable, List

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList
from torchvision.ops.misc import FrozenBatchNorm2d

from .inputs import Batch, flat_head_outputs, level_sizes
from .options import BenchOptions, autocast

TRAINABLE_LAYERS = ('layer2', 'layer3', 'layer4')


def _freeze_batchnorm(module: nn.Module) -> None:
    """Replace every ``BatchNorm2d`` below ``module`` by a ``FrozenBatchNorm2d`` with its state."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            _freeze_batchnorm(child)


def build_torchvision(opts: BenchOptions, height: int, width: int) -> nn.Module:
    """torchvision RetinaNet-R50-FPN (v1) for ``height × width`` inputs, no resizing."""
    model = torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=opts.num_classes,
        min_size=min(height, width), max_size=max(height, width),
        detections_per_img=opts.max_per_img)
    body = model.backbone.body
    _freeze_batchnorm(body)
    for name, param in body.named_parameters():
        param.requires_grad_(name.startswith(TRAINABLE_LAYERS))
    return model.to(opts.torch_device)


class TorchvisionSide:
    """torchvision's closures: ``train_step``, ``infer``, ``loss_part``, ``postprocess``."""

    name = 'torchvision'

    def __init__(self, opts: BenchOptions, height: int, width: int) -> None:
        self.opts = opts
        self.device = opts.torch_device
        self.model = build_torchvision(opts, height, width)
        if opts.tv_channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.num_classes = opts.num_classes

    def _images(self, batch: Batch) -> List[Tensor]:
        # torchvision takes RGB floats in [0, 1] and normalises them itself
        rgb = batch.images.flip(1).to(self.device, torch.float32) / 255
        return list(rgb)

    def _targets(self, batch: Batch) -> List[dict]:
        return [dict(boxes=b.to(self.device), labels=lb.to(self.device))
                for b, lb in zip(batch.boxes, batch.labels)]

    def train_step(self, batch: Batch) -> Callable[[], None]:
        """Forward, loss and backward of one batch (gradients dropped each time)."""
        model, images, targets = self.model, self._images(batch), self._targets(batch)

        def step() -> None:
            model.train()
            model.zero_grad(set_to_none=True)
            with autocast(self.device, self.opts.amp):
                losses = model(images, targets)
            sum(losses.values()).backward()
        return step

    def infer(self, batch: Batch) -> Callable[[], None]:
        """Detections of one batch, boxes mapped back to the input size."""
        model, images = self.model, self._images(batch)

        def step() -> None:
            model.eval()
            with torch.inference_mode(), autocast(self.device, self.opts.amp):
                model(images)
        return step

    def _shapes(self, batch: Batch):
        """What the anchor generator reads: an ImageList and per-level feature maps."""
        h, w = batch.size
        pad_h, pad_w = -(-h // 32) * 32, -(-w // 32) * 32
        image_list = ImageList(torch.empty(len(batch), 3, pad_h, pad_w, device=self.device),
                               [(h, w)] * len(batch))
        feats = [torch.empty(len(batch), 1, fh, fw, device=self.device)
                 for fh, fw in level_sizes(h, w)]
        return image_list, feats

    def _native(self, maps: List[Tensor]) -> List[Tensor]:
        """Fixed head outputs on the device, in the memory format this model's convs give."""
        fmt = torch.channels_last if self.opts.tv_channels_last else torch.contiguous_format
        return [m.to(self.device).contiguous(memory_format=fmt) for m in maps]

    def loss_part(self, batch: Batch, cls_maps: List[Tensor],
                  reg_maps: List[Tensor]) -> Callable[[], None]:
        """From the last convs' outputs: torchvision's flattening (the tail of its head's
        forward), anchors, matching, focal + L1 loss, and their backward."""
        cls = [c.requires_grad_() for c in self._native(cls_maps)]
        reg = [r.requires_grad_() for r in self._native(reg_maps)]
        targets = self._targets(batch)
        image_list, feats = self._shapes(batch)

        def step() -> None:
            for t in cls + reg:
                t.grad = None
            head_outputs = dict(cls_logits=flat_head_outputs(cls, self.num_classes),
                                bbox_regression=flat_head_outputs(reg, 4))
            anchors = self.model.anchor_generator(image_list, feats)
            losses = self.model.compute_loss(targets, head_outputs, anchors)
            sum(losses.values()).backward()
        return step

    def postprocess(self, batch: Batch, cls_maps: List[Tensor],
                    reg_maps: List[Tensor]) -> Callable[[], None]:
        """The inference tail of ``RetinaNet.forward`` from the last convs' outputs."""
        model = self.model
        cls, reg = self._native(cls_maps), self._native(reg_maps)
        image_list, feats = self._shapes(batch)
        per_level = [fh * fw * model.anchor_generator.num_anchors_per_location()[0]
                     for fh, fw in level_sizes(*batch.size)]

        def step() -> List[dict]:
            with torch.inference_mode():
                head_outputs = dict(cls_logits=flat_head_outputs(cls, self.num_classes),
                                    bbox_regression=flat_head_outputs(reg, 4))
                anchors = model.anchor_generator(image_list, feats)
                split = {k: list(v.split(per_level, dim=1)) for k, v in head_outputs.items()}
                split_anchors = [list(a.split(per_level)) for a in anchors]
                dets = model.postprocess_detections(split, split_anchors,
                                                    image_list.image_sizes)
                return model.transform.postprocess(dets, image_list.image_sizes,
                                                   image_list.image_sizes)
        return step
