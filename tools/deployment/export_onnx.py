"""Export a detector's network to ONNX, with dynamic batch and image size, and check it.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx \\
        [--shape 800 1344] [--opset 18] [--no-verify]

The graph is the network only: input ``images`` float32 ``[B, 3, H, W]``,
already normalised (RGB, ``(x - mean) / std``, padded to the config's
``pad_size_divisor``; the values are in the file's metadata); outputs per
FPN level ``cls_score_s<stride>`` ``[B, A*K, H_l, W_l]`` (logits) and
``bbox_pred_s<stride>`` ``[B, A*4, H_l, W_l]`` (deltas). Post-processing
(sigmoid, top-k, decoding, NMS) stays outside: in Python,
``model.bbox_head.predict_by_feat`` turns these outputs into detections
(docs/faq.md shows how). After exporting, onnxruntime runs random images
of two sizes and the outputs must match PyTorch's within ``--atol``.

Needs the ``onnx`` extra: ``pip install "detkit[onnx]"``.
"""
import argparse
import json
import math
import sys
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import DictAction
from torch import nn

from detkit.apis import init_detector
from detkit.engine import set_unsafe_load
from detkit.engine.runner_utils import run_tool
from detkit.utils.compat import require_keywords
from detkit.utils.optional_import import import_optional


class RawOutputs(nn.Module):
    """The detector's ``mode='tensor'`` forward as a flat tuple: scores, then boxes."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        cls_scores, bbox_preds = self.detector(images, mode='tensor')
        return tuple(cls_scores) + tuple(bbox_preds)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a detector to ONNX.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='.onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, default=[800, 1344], metavar=('H', 'W'),
                        help='example input size for tracing and checking (default 800 1344); '
                        'the exported graph takes any size')
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset (default 18)')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='largest difference to PyTorch allowed by the check (default 1e-4)')
    parser.add_argument('--no-verify', action='store_true', help='skip the onnxruntime check')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='config overrides with dotted keys')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='read a checkpoint that pickles Python objects (only if trusted)')
    args = parser.parse_args(argv)
    if not args.out.endswith('.onnx'):
        parser.error(f'--out must end in .onnx, got {args.out}')
    if min(args.shape) < 32:
        parser.error(f'--shape must be at least 32 x 32, got {args.shape}')
    return args


def output_names(detector: nn.Module) -> List[str]:
    strides = [int(s[0]) for s in detector.bbox_head.prior_generator.strides]
    return [f'cls_score_s{s}' for s in strides] + [f'bbox_pred_s{s}' for s in strides]


def padded(detector: nn.Module, height: int, width: int) -> Tuple[int, int]:
    divisor = getattr(detector.data_preprocessor, 'pad_size_divisor', 1)
    return (math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor)


def export(network: RawOutputs, example: torch.Tensor, path: str, opset: int) -> None:
    """``torch.onnx.export`` (torch.export-based) with dynamic batch, height and width."""
    import_optional('onnxscript', 'onnx', 'ONNX export')
    require_keywords(torch.onnx.export, ('dynamo', 'dynamic_shapes', 'external_data'),
                     'ONNX export', minimum_torch='2.5')
    dims = dict(batch=torch.export.Dim('batch', min=1, max=256),
                height=torch.export.Dim('height', min=32, max=8192),
                width=torch.export.Dim('width', min=32, max=8192))
    torch.onnx.export(network, (example,), path, input_names=['images'],
                      output_names=output_names(network.detector), opset_version=opset,
                      dynamic_shapes={'images': {0: dims['batch'], 2: dims['height'],
                                                 3: dims['width']}},
                      external_data=False, dynamo=True, verbose=False)


def add_metadata(path: str, detector: nn.Module) -> None:
    """What a user needs outside the graph: preprocessing, strides, class names."""
    onnx = import_optional('onnx', 'onnx', 'ONNX export')
    prep = detector.data_preprocessor
    meta = dict(
        input='float32 [B, 3, H, W]: RGB' if prep.swap_channels else 'float32 [B, 3, H, W]',
        mean=json.dumps(prep.mean.flatten().tolist() if prep.normalize else None),
        std=json.dumps(prep.std.flatten().tolist() if prep.normalize else None),
        pad_size_divisor=str(prep.pad_size_divisor),
        strides=json.dumps([int(s[0]) for s in detector.bbox_head.prior_generator.strides]),
        num_classes=str(detector.bbox_head.num_classes),
        classes=json.dumps(list(detector.dataset_meta['classes'])),
        postprocess='outside the graph: sigmoid, top-k, box decoding, NMS '
                    '(detkit: model.bbox_head.predict_by_feat)')
    model = onnx.load(path)
    onnx.helper.set_model_props(model, meta)
    onnx.save(model, path)


def verify(network: RawOutputs, path: str, shapes: Sequence[Tuple[int, ...]],
           atol: float) -> float:
    """Largest |onnxruntime - PyTorch| over all outputs for random inputs of ``shapes``."""
    ort = import_optional('onnxruntime', 'onnx', 'checking the ONNX file')
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    worst = 0.0
    generator = torch.Generator().manual_seed(0)
    for shape in shapes:
        images = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            expected = network(images)
        got = session.run(None, {'images': images.numpy()})
        for name, ours, theirs in zip(output_names(network.detector), got, expected):
            if tuple(ours.shape) != tuple(theirs.shape):
                raise ValueError(f'ONNX output {name} has shape {ours.shape} for input '
                                   f'{list(shape)}; PyTorch gives {list(theirs.shape)}')
            diff = float((torch.from_numpy(ours) - theirs).abs().max())
            worst = max(worst, diff)
            if diff > atol:
                raise ValueError(f'ONNX output {name} differs from PyTorch by {diff:.2e} '
                                   f'(> --atol {atol}) for input {list(shape)}')
    return worst


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    import_optional('onnx', 'onnx', 'ONNX export')
    set_unsafe_load(args.unsafe_load)
    detector = init_detector(args.config, args.checkpoint, device='cpu',
                             cfg_options=args.cfg_options)
    network = RawOutputs(detector).eval()
    height, width = padded(detector, *args.shape)
    export(network, torch.randn(1, 3, height, width), args.out, args.opset)
    add_metadata(args.out, detector)
    print(f'wrote {args.out}: input "images" [B, 3, H, W], outputs '
          f'{", ".join(output_names(detector))}')
    if not args.no_verify:
        other = padded(detector, height // 2 + 32, width // 2)
        worst = verify(network, args.out, [(1, 3, height, width), (2, 3, *other)], args.atol)
        print(f'onnxruntime matches PyTorch on inputs {height}x{width} and '
              f'2x{other[0]}x{other[1]}: max abs difference {worst:.2e}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
