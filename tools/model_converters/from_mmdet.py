"""Check and clean an MMDetection RetinaNet checkpoint for detkit.

    python tools/model_converters/from_mmdet.py \\
        retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth checkpoints/retinanet_r50_fpn_1x.pth

MMDetection's parameter names are detkit's, so nothing is renamed: the
tool keeps the weights and the class names (drops optimizer state, message
hub, config text), loads them strictly into the config's model and, if that
fails, says which keys are missing, unexpected or of another shape.
"""
import argparse
import sys
from typing import Optional, Sequence

from detkit.apis.inference import as_config, read_checkpoint
from detkit.apis.model_converters import add_converter_args, clean_checkpoint, save_verified
from detkit.engine import set_unsafe_load
from detkit.engine.runner_utils import run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Verify and clean an MMDetection RetinaNet checkpoint.')
    add_converter_args(parser, default_config='configs/retinanet_r50_fpn.py')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    set_unsafe_load(args.unsafe_load)
    ckpt = clean_checkpoint(read_checkpoint(args.src))
    save_verified(ckpt, as_config(args.config, args.cfg_options), args.src, args.dst)
    classes = ckpt['meta'].get('dataset_meta', {}).get('classes')
    print(f'wrote {args.dst}: {len(ckpt["state_dict"])} tensors load strictly into '
          f'{args.config}; ' + (f'{len(classes)} class names kept' if classes
                                else 'no class names in the checkpoint'))


if __name__ == '__main__':
    sys.exit(run_tool(main))
