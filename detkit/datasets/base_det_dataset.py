"""What COCO- and VOC-style detection datasets share.

Subclasses read their annotation format in :meth:`BaseDetDataset.read_annotations`
into mmengine's data-list format, one dict per image::

    dict(img_path=str, img_id=int, width=int, height=int,
         instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=int, ignore_flag=0|1)])

This class then reports bad annotations (once, with counts), checks that the
image files exist, applies ``filter_cfg`` and handles corrupt images.
"""
import colorsys
import logging
import os
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from detkit.registry import TRANSFORMS
from .transforms.loading import CorruptImageError

# How each counted annotation problem is reported; the order is the log's.
ISSUES = {
    'malformed': 'dropped {n} annotation(s) without a valid bbox',
    'degenerate': 'dropped {n} box(es) narrower or shorter than 1 px',
    'outside': 'dropped {n} box(es) lying (almost) entirely outside their image',
    'clipped': 'clipped {n} box(es) to their image',
    'unknown_category': 'ignored {n} annotation(s) whose category is not in `classes`',
    'orphan': 'ignored {n} annotation(s) whose image is not listed',
}
FILTER_KEYS = ('filter_empty_gt', 'min_size')


def make_palette(num_classes: int) -> List[Tuple[int, int, int]]:
    """``num_classes`` distinct, saturated RGB colours (hues spaced by the golden ratio)."""
    palette = []
    for i in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.85, 0.95 - 0.25 * (i % 3) / 2)
        palette.append((int(r * 255), int(g * 255), int(b * 255)))
    return palette


def sanitize_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int,
                 counts: Counter) -> Optional[List[float]]:
    """Clip an xyxy box to a ``width x height`` image, or drop it (``None``).

    Boxes under 1 px wide or tall are dropped before and after clipping (as
    MMDetection drops them); each outcome is counted in ``counts``.
    """
    if x2 - x1 < 1 or y2 - y1 < 1:
        counts['degenerate'] += 1
        return None
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
    if cx2 - cx1 < 1 or cy2 - cy1 < 1:
        counts['outside'] += 1
        return None
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        counts['clipped'] += 1
    return [float(cx1), float(cy1), float(cx2), float(cy2)]


class BaseDetDataset(BaseDataset):
    """An mmengine ``BaseDataset`` with detkit's checks of the data.

    Args:
        skip_corrupt: when an image does not decode, skip it with a warning
            (training only: another image is drawn) instead of raising.
        backend_args: mmengine file-backend arguments; with ``None`` (local
            files) every listed image is checked to exist when loading.
        **kwargs: ``BaseDataset``'s: ``ann_file``, ``metainfo``,
            ``data_root``, ``data_prefix``, ``filter_cfg``
            (``dict(filter_empty_gt=bool, min_size=int)``, training only),
            ``indices``, ``serialize_data``, ``pipeline`` (transforms or their
            configs, built from detkit's registry), ``test_mode``,
            ``lazy_init``, ``max_refetch``.
    """

    def __init__(self, *args, skip_corrupt: bool = False,
                 backend_args: Optional[dict] = None, **kwargs):
        self.skip_corrupt = skip_corrupt
        self.backend_args = backend_args
        self.num_skipped_corrupt = 0
        # Built from detkit's registry, so no default scope needs to be set.
        kwargs['pipeline'] = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                              for t in kwargs.get('pipeline', [])]
        super().__init__(*args, **kwargs)

    @property
    def name(self) -> str:
        """How messages name this dataset: its type and annotation file."""
        return f'{type(self).__name__}(ann_file={self.ann_file!r})'

    def read_annotations(self, counts: Counter, details: Dict[str, str]) -> List[dict]:
        """Parse the annotation file into the data list.

        Count each problem under its key of ``ISSUES`` in ``counts``;
        ``details[key]`` may add text to that problem's log entry.
        """
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        counts: Counter = Counter()
        details: Dict[str, str] = {}
        data_list = self.read_annotations(counts, details)
        self._log_issues(counts, details)
        if self.backend_args is None:
            self._check_image_files(data_list)
        return data_list

    def _log_issues(self, counts: Counter, details: Dict[str, str]) -> None:
        parts = [text.format(n=counts[key]) + details.get(key, '')
                 for key, text in ISSUES.items() if counts[key]]
        if parts:
            print_log(f'{self.name}: ' + '; '.join(parts) + '.', logger='current',
                      level=logging.WARNING)

    def _check_image_files(self, data_list: List[dict]) -> None:
        missing = [d['img_path'] for d in data_list if not os.path.isfile(d['img_path'])]
        if missing:
            shown = ', '.join(missing[:3]) + (', ...' if len(missing) > 3 else '')
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} image files listed in the annotation '
                f'file {self.ann_file} do not exist: {shown}. Check data_root and '
                f'data_prefix (now {self.data_prefix}).')

    def filter_data(self) -> List[dict]:
        """Apply ``filter_cfg`` (training only); an empty result is an error.

        ``filter_empty_gt=True`` removes images without a usable box (ignore
        regions do not count); ``min_size`` removes images whose width or
        height is below it.
        """
        if not self.data_list:
            raise ValueError(f'{self.name}: the annotation file lists no images.')
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        unknown = set(self.filter_cfg) - set(FILTER_KEYS)
        if unknown:
            raise ValueError(f'{self.name}: unknown filter_cfg key(s) {sorted(unknown)}; '
                             f'accepted: {FILTER_KEYS}')
        kept, removed = self.data_list, {}
        if self.filter_cfg.get('filter_empty_gt', False):
            before = len(kept)
            kept = [d for d in kept if any(not i['ignore_flag'] for i in d['instances'])]
            removed['filter_empty_gt=True (images without a usable box of `classes`)'] = (
                before - len(kept))
        min_size = self.filter_cfg.get('min_size', 0)
        if min_size:
            before = len(kept)
            kept = [d for d in kept if min(d['width'], d['height']) >= min_size]
            removed[f'min_size={min_size} (images with a side under {min_size} px)'] = (
                before - len(kept))
        report = '; '.join(f'{key} removed {n}' for key, n in removed.items())
        if not kept:
            raise ValueError(
                f'{self.name}: no images left after filtering. Of {len(self.data_list)} '
                f'images, {report}. Check `classes` (now {len(self.metainfo["classes"])}) '
                'against the annotation file, or relax filter_cfg.')
        if len(kept) < len(self.data_list):
            print_log(f'{self.name}: kept {len(kept)} of {len(self.data_list)} images; '
                      f'{report}.', logger='current')
        return kept

    def get_cat_ids(self, idx: int) -> List[int]:
        """Class indices of image ``idx``'s instances (for ClassBalancedDataset)."""
        return [inst['bbox_label'] for inst in self.get_data_info(idx)['instances']]

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on image ``idx``; corrupt images per ``skip_corrupt``."""
        try:
            return super().prepare_data(idx)
        except CorruptImageError as err:
            if not self.skip_corrupt:
                raise CorruptImageError(
                    f'{err} It is listed in {self.ann_file}. Remove it, or pass '
                    'skip_corrupt=True to the dataset to skip such images in training.'
                ) from None
            if self.test_mode:
                raise CorruptImageError(
                    f'{err} It is listed in {self.ann_file}. Corrupt images cannot be '
                    'skipped when evaluating (the metric would miss it): remove it from '
                    'the annotation file.') from None
        self.num_skipped_corrupt += 1
        print_log(f'{self.name}: skipped corrupt image {self.get_data_info(idx)["img_path"]} '
                  f'({self.num_skipped_corrupt} corrupt image(s) skipped by this process).',
                  logger='current', level=logging.WARNING)
        return None

    def _class_names(self) -> Sequence[str]:
        classes = self._metainfo.get('classes')
        if not classes:
            raise ValueError(f'{self.name}: metainfo has no `classes`; pass '
                             'metainfo=dict(classes=(...)).')
        return tuple(classes)
