"""Check and clean an MMDetection RetinaNet checkpoint for detkit.

    python tools/model_converters/from_mmdet.py \\
        retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth checkpoints/retinanet_r50_fpn_1x.pth

MMDetection's parameter names are detkit's, so nothing is renamed: the
tool keeps the weights and the class names (drops optimizer state, message
hub, config text), loads them strictly into the config's model and, if that
fails, says which keys are missing, unexpected or of another shape.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction

from detkit.apis.inference import as_config, load_weights, read_checkpoint
from detkit.apis.model_converters import clean_checkpoint
from detkit.engine import set_unsafe_load
from detkit.engine.runner_utils import run_tool
from detkit.registry import MODELS

DEFAULT_CONFIG = 'configs/retinanet_r50_fpn.py'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Verify and clean an MMDetection RetinaNet checkpoint.')
    parser.add_argument('src', help='MMDetection .pth checkpoint')
    parser.add_argument('dst', help='cleaned checkpoint to write')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help=f'config the weights must load into (default {DEFAULT_CONFIG})')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE',
                        help='config overrides, e.g. model.bbox_head.num_classes=20')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='read a file that pickles Python objects (only if you trust it)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    set_unsafe_load(args.unsafe_load)
    ckpt = clean_checkpoint(read_checkpoint(args.src))
    cfg = as_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    load_weights(model, ckpt['state_dict'], args.src)
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save(ckpt, args.dst)
    classes = ckpt['meta'].get('dataset_meta', {}).get('classes')
    print(f'wrote {args.dst}: {len(ckpt["state_dict"])} tensors load strictly into '
          f'{args.config}; ' + (f'{len(classes)} class names kept' if classes
                                else 'no class names in the checkpoint'))


if __name__ == '__main__':
    sys.exit(run_tool(main))
