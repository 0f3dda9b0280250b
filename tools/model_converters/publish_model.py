"""Prepare a checkpoint for release: weights and class names only, hash in the name.

    python tools/model_converters/publish_model.py work_dirs/x/epoch_12.pth retinanet_r50_1x.pth
    # -> retinanet_r50_1x-<first 8 hex digits of its SHA-256>.pth

Drops the optimizer state, the parameter schedulers and the message hub
(what only resuming needs), keeps ``meta.dataset_meta`` and a few version
fields.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

from detkit.apis.inference import read_checkpoint
from detkit.apis.model_converters import add_converter_args, publish_checkpoint
from detkit.engine import set_unsafe_load
from detkit.engine.runner_utils import run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Strip training state from a checkpoint and add its hash to the name '
        '(DST "x.pth" becomes "x-<sha256[:8]>.pth").')
    add_converter_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    set_unsafe_load(args.unsafe_load)
    final = publish_checkpoint(read_checkpoint(args.src), args.dst)
    size = os.path.getsize(args.src), os.path.getsize(final)
    print(f'wrote {final} ({size[1] / 2**20:.1f} MiB, from {size[0] / 2**20:.1f} MiB)')


if __name__ == '__main__':
    sys.exit(run_tool(main))
