"""Convert torchvision's RetinaNet R50-FPN (v1) weights into a detkit checkpoint.

    python tools/model_converters/from_torchvision.py retinanet_resnet50_fpn_coco-eeacb38b.pth \\
        checkpoints/retinanet_r50_fpn_torchvision.pth [--coco80]

The input is a state dict (``torch.save(model.state_dict())``, as torchvision
publishes it) or a torchvision training checkpoint with a ``model`` entry.
The output loads strictly into ``configs/retinanet_r50_fpn_torchvision.py``
(checked before it is written) and computes torchvision's outputs on the
same input. See docs/converters.md.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

from detkit.apis.inference import as_config, read_checkpoint
from detkit.apis.model_converters import (add_converter_args, coco91_to_coco80,
                                          convert_torchvision_retinanet, save_verified)
from detkit.engine import set_unsafe_load
from detkit.engine.runner_utils import run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a torchvision retinanet_resnet50_fpn state dict to detkit.')
    add_converter_args(parser, default_config='configs/retinanet_r50_fpn_torchvision.py')
    parser.add_argument('--coco80', action='store_true',
                        help='keep the 80 COCO classes of torchvision\'s 91 labels (drop '
                        '__background__ and N/A), so that labels follow detkit\'s CocoDataset '
                        '(the model then needs model.bbox_head.num_classes=80)')
    return parser.parse_args(argv)


def class_names(num_classes: int) -> tuple:
    """torchvision's COCO label names for 91 classes, else ``class 0`` …."""
    if num_classes == 91:
        from torchvision.models._meta import _COCO_CATEGORIES
        return tuple(_COCO_CATEGORIES)
    return tuple(f'class {i}' for i in range(num_classes))


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    set_unsafe_load(args.unsafe_load)
    state, num_classes = convert_torchvision_retinanet(read_checkpoint(args.src))
    classes = class_names(num_classes)
    if args.coco80:
        if num_classes != 91:
            raise ValueError(f'--coco80 needs torchvision\'s 91 COCO labels, but {args.src} '
                             f'has {num_classes} classes')
        state, classes = coco91_to_coco80(state, classes)
        num_classes = len(classes)
    cfg = as_config(args.config, args.cfg_options)
    cfg.model.bbox_head.num_classes = num_classes
    meta = dict(dataset_meta=dict(classes=classes),
                converted_from=f'torchvision retinanet_resnet50_fpn: '
                f'{os.path.basename(args.src)}')
    save_verified(dict(state_dict=state, meta=meta), cfg, args.src, args.dst)
    print(f'wrote {args.dst}: {len(state)} tensors, {num_classes} classes; it loads strictly '
          f'into {args.config} with model.bbox_head.num_classes={num_classes}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
