"""Print a config as the tools see it: ``_base_`` files merged, overrides applied.

    python tools/analysis_tools/print_config.py CONFIG [--cfg-options KEY=VALUE ...] \\
        [--out resolved.py]

``--out`` also writes it (``.py``, ``.yaml`` or ``.json`` by the extension);
the written file is a complete config that needs none of the base files.
"""
import argparse
import sys
from typing import Optional, Sequence

import yaml
from mmengine.config import DictAction

from detkit.engine.runner_utils import run_tool
from detkit.utils import load_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Print the resolved config.')
    parser.add_argument('config', help='config file (.py, .yaml or .json)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE',
                        help='override entries with dotted keys, e.g. model.bbox_head.num_classes=3')
    parser.add_argument('--out', help='also write the resolved config (.py, .yaml or .json)')
    args = parser.parse_args(argv)
    if args.out and not args.out.endswith(('.py', '.yaml', '.yml', '.json')):
        parser.error(f'--out must end in .py, .yaml or .json, got {args.out}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    print(f'Config (resolved): {args.config}\n{cfg.pretty_text}')
    if args.out:
        write(cfg, args.out)
        print(f'written to {args.out}')


def plain(value):
    """Dicts, lists and scalars only: what a safe YAML loader reads back."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def write(cfg, path: str) -> None:
    """``cfg`` as a complete config file; YAML without Python tags (detkit reads YAML
    with the safe loader), so tuples become lists."""
    if path.endswith(('.yaml', '.yml')):
        with open(path, 'w') as f:
            yaml.safe_dump(plain(cfg.to_dict()), f, sort_keys=False)
    else:
        cfg.dump(path)


if __name__ == '__main__':
    sys.exit(run_tool(main))
