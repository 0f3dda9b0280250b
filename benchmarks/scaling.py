"""How the training step and the loss part grow with ground truths per image and batch size."""
from dataclasses import replace
from typing import Dict, List, Sequence

from .compare import CompareConfig, run_compare
from .detkit_side import DetkitSide
from .options import BenchOptions
from .torchvision_side import TorchvisionSide


def run_scaling(opts: BenchOptions, base: CompareConfig, gts: Sequence[int] = (1, 10, 100),
                batches: Sequence[int] = (1, 2, 8),
                measures: Sequence[str] = ('train_step', 'loss_part')) -> List[Dict]:
    """One row per setting: ``gts`` at ``base.batch``, then ``batches`` at ``base.boxes``.

    Both models are built once and reused by every setting.
    """
    sides = (DetkitSide(opts), TorchvisionSide(opts, *base.size))
    settings = dict.fromkeys([(g, base.batch) for g in gts] + [(base.boxes, b) for b in batches])
    rows = []
    for boxes, batch in settings:
        cfg = replace(base, boxes=boxes, batch=batch, measures=tuple(measures),
                      infer_batches=())
        rows.append(dict(gts=boxes, batch=batch, results=run_compare(opts, cfg, sides)))
    return rows


def format_scaling(rows: List[Dict], measures: Sequence[str] = ('train_step', 'loss_part')
                   ) -> str:
    """A Markdown table: setting, then per measure detkit / torchvision ms and the ratio."""
    head = '| gts/img | batch | ' + ' | '.join(
        f'{m} detkit (ms) | {m} torchvision (ms) | ratio' for m in measures) + ' |'
    lines = [head, '|' + '---|' * (2 + 3 * len(measures))]
    for row in rows:
        cells = [str(row['gts']), str(row['batch'])]
        for m in measures:
            entry = row['results'][m]
            cells += [f'{entry["detkit"] * 1e3:.0f}', f'{entry["torchvision"] * 1e3:.0f}',
                      f'{entry["ratio"]:.2f}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
