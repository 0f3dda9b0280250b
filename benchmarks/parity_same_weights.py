"""Same weights, same batch: torchvision's RetinaNet loss and gradients against detkit's.

    python benchmarks/parity_same_weights.py [--size 256] [--seed 0]

Builds torchvision's from-scratch ResNet-18 RetinaNet of the parity
benchmark, copies its weights into detkit's equivalent model (FPN with
``relu_before_extra_convs=True``: torchvision's ``LastLevelP6P7`` has that
ReLU), feeds both the same 4 training images at their own size (no
resizing, no flip; train-mode BN) and prints both losses and, per
parameter, both gradient norms and their cosine. What is left between them
is what the two frameworks define differently on purpose: anchor sizes
(torchvision truncates 40.3 / 50.8 to 40 / 50 and rounds base anchors),
the low-quality matches, and the loss normalisation (torchvision averages
per-image ``sum / num_pos_i``, MMDetection divides the batch sum by
``sum_i max(num_pos_i, 1)``).
"""
import argparse
import os
import sys
from typing import Dict, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from benchmarks import parity_detkit, parity_torchvision  # noqa: E402
from benchmarks.parity_common import PRESETS, Recipe, load_split  # noqa: E402
from detkit.apis.model_converters import convert_torchvision_retinanet  # noqa: E402
from detkit.datasets.synthetic import SYNTHETIC_CLASSES, ensure_synthetic_dataset  # noqa: E402
from detkit.registry import MODELS  # noqa: E402
from detkit.structures import DetDataSample  # noqa: E402


def build_pair(recipe: Recipe, data_root: str, seed: int) -> tuple:
    """``(torchvision model, detkit model, torchvision name -> detkit name)``, same weights."""
    torch.manual_seed(seed)
    tv_model = parity_torchvision.build_model(recipe, len(SYNTHETIC_CLASSES))
    cfg = parity_detkit.recipe_config(parity_detkit.DEFAULT_CONFIG, recipe, seed, '', data_root,
                                      {'model.neck.relu_before_extra_convs': True})
    dk_model = MODELS.build(cfg.model)
    tv_state = tv_model.state_dict()
    state, _ = convert_torchvision_retinanet(tv_state)
    dk_model.load_state_dict(state, strict=True)
    return tv_model, dk_model, dict(zip(tv_state, state))


def same_size_images(images: list, count: int = 4) -> list:
    """``count`` training images of the most common size, read as BGR uint8."""
    by_size: Dict[tuple, list] = {}
    for img in images:
        pixels = cv2.imread(img['path'], cv2.IMREAD_COLOR)
        by_size.setdefault(pixels.shape[:2], []).append((img, pixels))
        if len(by_size[pixels.shape[:2]]) == count:
            return by_size[pixels.shape[:2]]
    raise ValueError(f'fewer than {count} training images of one size')


def losses_and_grads(recipe: Recipe, data_root: str, seed: int = 0, count: int = 4) -> dict:
    """Both frameworks' losses and per-parameter gradients (detkit names) on one batch."""
    tv_model, dk_model, names = build_pair(recipe, data_root, seed)
    _, images = load_split(data_root, 'train')
    batch = same_size_images(images, count)
    samples = []
    for img, pixels in batch:
        sample = DetDataSample(metainfo=dict(img_shape=pixels.shape[:2],
                                             ori_shape=pixels.shape[:2], scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(bboxes=torch.from_numpy(img['boxes']),
                                           labels=torch.from_numpy(img['labels']))
        samples.append(sample)
    dk_model.train()
    data = dk_model.data_preprocessor(
        dict(inputs=[torch.from_numpy(p).permute(2, 0, 1).contiguous() for _, p in batch],
             data_samples=samples), training=True)
    dk_losses = dk_model.loss(data['inputs'], data['data_samples'])
    dk_total, dk_log = dk_model.parse_losses(dk_losses)
    dk_total.backward()
    tv_model.train()
    tv_losses = tv_model([torch.from_numpy(np.ascontiguousarray(p[..., ::-1])).permute(2, 0, 1)
                          .float() / 255 for _, p in batch],
                         [dict(boxes=torch.from_numpy(img['boxes']),
                               labels=torch.from_numpy(img['labels'])) for img, _ in batch])
    (tv_losses['classification'] + tv_losses['bbox_regression']).backward()
    tv_grads = {names[n]: p.grad for n, p in tv_model.named_parameters()}
    return dict(
        detkit={k: float(dk_log[k].detach()) for k in ('loss_cls', 'loss_bbox')},
        torchvision=dict(loss_cls=float(tv_losses['classification'].detach()),
                         loss_bbox=float(tv_losses['bbox_regression'].detach())),
        grads={n: (p.grad, tv_grads[n]) for n, p in dk_model.named_parameters()})


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=256, help='short = long side (no resize '
                        'of the 256-px synthetic images at 256)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--images', type=int, default=4, help='batch size (1: the two loss '
                        'normalisations agree)')
    parser.add_argument('--data-root', help='a synthetic set (default: detkit\'s)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    recipe = Recipe(**{**PRESETS['cpu'].__dict__, 'short': args.size, 'long': args.size})
    root = os.path.abspath(args.data_root) if args.data_root else ensure_synthetic_dataset()
    out = losses_and_grads(recipe, root, args.seed, args.images)
    for side in ('detkit', 'torchvision'):
        print(f"{side:12s} loss_cls {out[side]['loss_cls']:.6f}  "
              f"loss_bbox {out[side]['loss_bbox']:.6f}")
    print(f"{'parameter':44s} {'|grad| detkit':>14s} {'torchvision':>12s} {'cosine':>7s}")
    for name, (ours, theirs) in out['grads'].items():
        cosine = torch.nn.functional.cosine_similarity(ours.flatten(), theirs.flatten(), dim=0)
        print(f'{name:44s} {ours.norm():14.4e} {theirs.norm():12.4e} {cosine:7.4f}')
    return out


if __name__ == '__main__':
    main()
