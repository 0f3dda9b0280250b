"""Detect objects in images; write pictures with the boxes and a JSON of the detections.

    python tools/infer.py demo.jpg more_images/ --config CONFIG --weights CHECKPOINT \\
        --out-dir outputs [--score-thr 0.3] [--batch-size 4] [--device cuda]

Writes ``OUT_DIR/vis/<image name>.png`` (boxes coloured by class, labelled
with class name and score) and ``OUT_DIR/detections.json`` (per image the
boxes in original pixels, xyxy, with scores, labels and class names). See
docs/getting_started.md.
"""
import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from detkit.apis import DetInferencer
from detkit.engine import set_unsafe_load
from detkit.engine.runner_utils import run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Detect objects in images.')
    parser.add_argument('images', nargs='+', help='image files or folders of images')
    parser.add_argument('--config', required=True, help='the model\'s config file')
    parser.add_argument('--weights', help='checkpoint (without: random weights, for a dry run)')
    parser.add_argument('--out-dir', default='outputs',
                        help='where vis/*.png and detections.json go (default outputs)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest score drawn and written (default 0.3)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='config overrides with dotted keys')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='read a checkpoint that pickles Python objects (only if trusted)')
    parser.add_argument('--debug', action='store_true', help='show full tracebacks')
    args = parser.parse_args(argv)
    if not 0 <= args.score_thr <= 1:
        parser.error(f'--score-thr must be in [0, 1], got {args.score_thr}')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be at least 1, got {args.batch_size}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    set_unsafe_load(args.unsafe_load)
    inferencer = DetInferencer(args.config, args.weights, device=args.device,
                               cfg_options=args.cfg_options)
    out = inferencer(args.images, batch_size=args.batch_size, out_dir=args.out_dir,
                     score_thr=args.score_thr, show_progress=False if args.no_progress else None)
    count = sum(len(p['scores']) for p in out['predictions'])
    print(f'{count} detections (score >= {args.score_thr}) in {len(out["predictions"])} '
          f'images: {args.out_dir}/detections.json, pictures in {args.out_dir}/vis/')


if __name__ == '__main__':
    sys.exit(run_tool(main))
