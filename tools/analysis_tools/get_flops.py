"""Count a detector's FLOPs and parameters, per module.

    python tools/analysis_tools/get_flops.py CONFIG --shape 800 1333 [--depth 2]

The network (backbone, neck, head; no post-processing) runs once on a
``1 x 3 x H x W`` input, ``H`` and ``W`` padded up to the config's
``pad_size_divisor`` as the data preprocessor would, under PyTorch's own
``torch.utils.flop_counter.FlopCounterMode``. That counter counts one
multiply-add as 2 FLOPs, in convolutions and matrix products only (not in
norms, activations, additions or upsampling); MMDetection's ``get_flops``
(mmcv / fvcore) counts multiply-adds, so compare its "GFLOPs" with the
GMACs column.
"""
import argparse
import math
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import DictAction

from detkit.apis.inference import as_config
from detkit.engine.runner_utils import run_tool
from detkit.registry import MODELS
from detkit.utils.compat import flop_counter


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='FLOPs and parameters of a detector.')
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', default=[800, 1333],
                        metavar='N', help='input H W, or one size for both (default 800 1333)')
    parser.add_argument('--depth', type=int, default=2,
                        help='module levels shown in the table (default 2)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='config overrides with dotted keys')
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2) or min(args.shape) < 1:
        parser.error(f'--shape takes H W or one size, all positive, got {args.shape}')
    if args.depth < 0:
        parser.error(f'--depth must be >= 0, got {args.depth}')
    return args


def input_shape(model: torch.nn.Module, shape: Sequence[int],
                divisor: Optional[int] = None) -> Tuple[int, int]:
    """``(H, W)`` padded to ``divisor`` (default the data preprocessor's ``pad_size_divisor``)."""
    height, width = (shape[0], shape[0]) if len(shape) == 1 else shape
    if divisor is None:
        divisor = getattr(model.data_preprocessor, 'pad_size_divisor', 1)
    return (int(math.ceil(height / divisor)) * divisor,
            int(math.ceil(width / divisor)) * divisor)


def count(model: torch.nn.Module, height: int, width: int) -> Dict[str, int]:
    """FLOPs per module name (``''`` for the whole model) of one forward pass."""
    counter = flop_counter('tools/analysis_tools/get_flops.py')
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, height, width), mode='tensor')
    root = type(model).__name__
    flops = {}
    for name, ops in counter.get_flop_counts().items():
        if name == root or name.startswith(root + '.'):
            flops[name[len(root) + 1:]] = sum(ops.values())
    return flops


def table(model: torch.nn.Module, flops: Dict[str, int], depth: int) -> List[str]:
    """Rows ``module | params (M) | GFLOPs | GMACs | % of FLOPs`` down to ``depth``."""
    total = max(flops.get('', 0), 1)
    rows = [f'{"module":<36} {"params (M)":>10} {"GFLOPs":>9} {"GMACs":>9} {"%":>6}']
    for name, module in model.named_modules():
        level = 0 if name == '' else name.count('.') + 1
        params = sum(p.numel() for p in module.parameters())
        if level > depth or (params == 0 and name not in flops):
            continue
        value = flops.get(name, 0)
        rows.append(f'{"  " * level + (name.split(".")[-1] or type(model).__name__):<36} '
                    f'{params / 1e6:>10.3f} {value / 1e9:>9.3f} {value / 2e9:>9.3f} '
                    f'{100 * value / total:>6.1f}')
    return rows


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = as_config(args.config, args.cfg_options)
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None    # weights do not change the count
    model = MODELS.build(cfg.model).eval()
    height, width = input_shape(model, args.shape)
    padded = (height, width) != input_shape(model, args.shape, divisor=1)
    flops = count(model, height, width)
    print('\n'.join(table(model, flops, args.depth)))
    params = sum(p.numel() for p in model.parameters())
    print(f'\nInput shape: (1, 3, {height}, {width})'
          + (' (padded to the pad_size_divisor)' if padded else '')
          + f'\nFLOPs: {flops.get("", 0) / 1e9:.2f} G (= {flops.get("", 0) / 2e9:.2f} G '
          f'multiply-adds, MMDetection\'s "GFLOPs")\nParams: {params / 1e6:.2f} M')


if __name__ == '__main__':
    sys.exit(run_tool(main))
