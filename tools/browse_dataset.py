"""Draw what the data pipeline gives the model: images with their boxes.

    python tools/browse_dataset.py CONFIG --output-dir DIR [--not-show]
        [--max-images N] [--phase train|val] [--cfg-options KEY=VALUE ...]

Writes one PNG per image: the pipeline's output (after resizing, flipping,
...), each ground-truth box in its class's colour with the class name, and
ignore regions (COCO crowds, VOC difficult) in grey.
"""
import argparse
import logging
import os
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from detkit.registry import DATASETS

IGNORE_COLOUR = (160, 160, 160)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', required=True, help='folder for the PNG files')
    parser.add_argument('--not-show', action='store_true', help='do not open a window')
    parser.add_argument('--max-images', type=int, default=20, help='how many images')
    parser.add_argument('--phase', choices=('train', 'val'), default='train',
                        help='which dataloader\'s dataset and pipeline')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.dataset.seed=1')
    return parser.parse_args(argv)


def _label(img: np.ndarray, text: str, x: int, y: int, colour: Tuple[int, int, int]) -> None:
    """Text on a filled box in ``colour`` above (or inside, at the top) ``(x, y)``."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    y = max(y, th + base)
    cv2.rectangle(img, (x, y - th - base), (x + tw + 2, y), colour, -1)
    dark = sum(colour) > 384
    cv2.putText(img, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (0, 0, 0) if dark else (255, 255, 255), 1, cv2.LINE_AA)


def draw_sample(img: np.ndarray, sample, classes: Sequence[str],
                palette: Sequence[Tuple[int, int, int]]) -> np.ndarray:
    """Draw ``sample``'s gt boxes (class colour + name) and ignore regions on BGR ``img``."""
    img = np.ascontiguousarray(img)
    for box in sample.ignored_instances.bboxes.round().int().tolist():
        cv2.rectangle(img, tuple(box[:2]), tuple(box[2:]), IGNORE_COLOUR, 1)
        _label(img, 'ignore', box[0], box[1], IGNORE_COLOUR)
    gt = sample.gt_instances
    for box, label in zip(gt.bboxes.round().int().tolist(), gt.labels.tolist()):
        r, g, b = palette[label % len(palette)]
        cv2.rectangle(img, tuple(box[:2]), tuple(box[2:]), (b, g, r), 1)
        _label(img, classes[label], box[0], box[1], (b, g, r))
    return img


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'detkit'))
    dataset = DATASETS.build(cfg[f'{args.phase}_dataloader']['dataset'])
    classes, palette = dataset.metainfo['classes'], dataset.metainfo['palette']
    os.makedirs(args.output_dir, exist_ok=True)
    show = not args.not_show
    for index in range(min(args.max_images, len(dataset))):
        item = dataset[index]
        sample = item['data_samples']
        img = draw_sample(item['inputs'].permute(1, 2, 0).numpy(), sample, classes, palette)
        stem = os.path.splitext(os.path.basename(sample.img_path))[0]
        path = os.path.join(args.output_dir, f'{index:04d}_{stem}.png')
        cv2.imwrite(path, img)
        if show:
            try:
                cv2.imshow('browse_dataset (any key: next, q: quit)', img)
                if cv2.waitKey(0) & 0xFF == ord('q'):
                    show = False
            except cv2.error:
                print_log('Cannot open a window here; writing the files only '
                          '(pass --not-show to skip trying).', logger='current',
                          level=logging.WARNING)
                show = False
    print_log(f'Wrote {min(args.max_images, len(dataset))} images to {args.output_dir}',
              logger='current')


if __name__ == '__main__':
    main()
