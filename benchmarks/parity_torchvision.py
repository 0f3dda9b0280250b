"""torchvision's side of the from-scratch parity benchmark: its own ``RetinaNet``, its own loop.

The model is ``retinanet_resnet50_fpn`` with a ResNet-18 body: ``weights=None``,
``weights_backbone=None``, every layer trainable (trainable layers 5), plain
``BatchNorm2d`` in train mode; FPN on C3..C5 with ``LastLevelP6P7`` from C5
(ReLU before P7, as torchvision always does); its ``RetinaNetHead`` (4 convs
per branch); its ``AnchorGenerator`` (sizes ``(x, int(x 2^1/3), int(x 2^2/3))``,
rounded base anchors). Data as torchvision's detection reference prepares it:
RGB in ``[0, 1]``, horizontal flip with probability 0.5, crowd regions left
out, resizing and normalisation by the model's ``GeneralizedRCNNTransform``.
On the GPU when there is one (detkit's side: mmengine's Runner does the same).
"""
from typing import Dict, List

import cv2
import numpy as np
import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from .parity_common import Diverged, Recipe, lr_factor

C3_C5 = {'layer2': '0', 'layer3': '1', 'layer4': '2'}
DEVICE = torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def build_model(recipe: Recipe, num_classes: int) -> RetinaNet:
    """torchvision RetinaNet with a from-scratch ResNet-18 + FPN of ``recipe.width`` channels."""
    body = resnet18(weights=None)
    backbone = BackboneWithFPN(body, C3_C5, [128, 256, 512], recipe.width,
                               extra_blocks=LastLevelP6P7(512, recipe.width))
    sizes = tuple((x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3)))
                  for x in (recipe.anchor_base * 2 ** i for i in range(5)))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    return RetinaNet(backbone, num_classes, min_size=recipe.short, max_size=recipe.long,
                     anchor_generator=anchors, detections_per_img=100)


def read_rgb(path: str) -> torch.Tensor:
    """``[3, H, W]`` float RGB in ``[0, 1]``."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1).float() / 255


def train(recipe: Recipe, train_images: List[dict], num_classes: int, seed: int) -> tuple:
    """Train from ``torch.manual_seed(seed)``; ``(model, curve)``, curve per iteration.

    ``curve``: ``dict(loss_cls=[...], loss_bbox=[...])``.

    Raises:
        Diverged: at the first non-finite loss (before its update).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(recipe, num_classes).to(DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    pixels = [read_rgb(img['path']) for img in train_images]
    curve: Dict[str, list] = dict(loss_cls=[], loss_bbox=[])
    order: List[int] = []
    model.train()
    for it in range(recipe.iters):
        if len(order) < recipe.batch:
            order = rng.permutation(len(train_images)).tolist()
        batch, order = order[:recipe.batch], order[recipe.batch:]
        images, targets = [], []
        for i in batch:
            img, boxes = pixels[i], torch.from_numpy(train_images[i]['boxes'].copy())
            if rng.random() < 0.5:
                img = img.flip(-1)
                boxes[:, [0, 2]] = img.shape[-1] - boxes[:, [2, 0]]
            images.append(img.to(DEVICE))
            targets.append(dict(boxes=boxes.to(DEVICE),
                                labels=torch.from_numpy(train_images[i]['labels']).to(DEVICE)))
        for group in optimizer.param_groups:
            group['lr'] = recipe.lr * lr_factor(recipe, it)
        losses = model(images, targets)
        loss = losses['classification'] + losses['bbox_regression']
        if not torch.isfinite(loss):  # as detkit's NonFiniteLossHook: stop, no NaN update
            raise Diverged(it + 1, curve)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curve['loss_cls'].append(float(losses['classification'].detach()))
        curve['loss_bbox'].append(float(losses['bbox_regression'].detach()))
    return model, curve


@torch.no_grad()
def predict(model: nn.Module, val_images: List[dict], batch: int = 8) -> List[dict]:
    """Detections per val image in original pixels (the model's transform maps them back)."""
    model.eval()
    out = []
    for start in range(0, len(val_images), batch):
        chunk = val_images[start:start + batch]
        for img, det in zip(chunk, model([read_rgb(i['path']).to(DEVICE) for i in chunk])):
            out.append(dict(image_id=img['id'], boxes=det['boxes'], scores=det['scores'],
                            labels=det['labels']))
    return out
