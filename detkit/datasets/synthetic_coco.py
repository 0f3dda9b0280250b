"""The embedded synthetic dataset as a registered, self-generating COCO dataset."""
from typing import Optional

from detkit.registry import DATASETS
from .base_det_dataset import make_palette
from .coco import CocoDataset
from .synthetic import SYNTHETIC_CLASSES, ensure_synthetic_dataset


@DATASETS.register_module()
class SyntheticCocoDataset(CocoDataset):
    """:class:`CocoDataset` over detkit's generated shapes dataset.

    On construction the dataset is generated into ``data_root`` unless it is
    already there (``data_root=None``: ``$DETKIT_DATA/synthetic_v1``, by default
    ``~/.cache/detkit/synthetic_v1``), so a config needs no download step.

    Args:
        ann_file: ``'annotations/instances_train.json'`` or ``..._val.json``.
        data_root: where the dataset lives or is generated.
        data_prefix: ``dict(img='train/')`` or ``dict(img='val/')``.
        **kwargs: see :class:`CocoDataset`.
    """

    METAINFO = dict(classes=SYNTHETIC_CLASSES, palette=make_palette(len(SYNTHETIC_CLASSES)))

    def __init__(self, ann_file: str = 'annotations/instances_train.json',
                 data_root: Optional[str] = None, data_prefix: dict = dict(img='train/'),
                 **kwargs):
        super().__init__(ann_file=ann_file, data_root=ensure_synthetic_dataset(data_root),
                         data_prefix=data_prefix, **kwargs)
