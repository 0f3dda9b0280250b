"""The public datasets detkit can download: official archives, sizes, checksums, layout.

``tools/misc/download_dataset.py`` fetches them; :func:`missing_dataset_message`
tells ``tools/train.py`` users which command fetches a dataset their config
expects but that is not on disk.

Sizes and MD5 sums are the published ones (the same values torchvision's
``VOCDetection`` and the COCO download scripts of Detectron2 / PaddleDetection
check); the URLs are the official hosts, as in MMDetection's
``tools/misc/download_dataset.py``.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.config import ConfigDict


@dataclass(frozen=True)
class Archive:
    """One file to download: where from, how many bytes, its MD5."""
    url: str
    size: int
    md5: str

    @property
    def name(self) -> str:
        return self.url.rsplit('/', 1)[-1]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its archives, the folder under ``--save-dir`` they go to and
    are unpacked in, and files (relative to ``--save-dir``) that mark it complete."""
    folder: str
    archives: Tuple[Archive, ...]
    expected: Tuple[str, ...]


DATASETS: Dict[str, DatasetSpec] = {
    'coco2017': DatasetSpec(
        folder='coco',
        archives=(
            Archive('http://images.cocodataset.org/zips/train2017.zip', 19336861798,
                    'cced6f7f71b7629ddf16f17bbcfab6b2'),
            Archive('http://images.cocodataset.org/zips/val2017.zip', 815585330,
                    '442b8da7639aecaf257c1dceb8ba8c80'),
            Archive('http://images.cocodataset.org/annotations/annotations_trainval2017.zip',
                    252907541, 'f4bbac642086de4f52a3fdda2de5fa2c'),
        ),
        expected=('coco/annotations/instances_train2017.json',
                  'coco/annotations/instances_val2017.json', 'coco/train2017', 'coco/val2017')),
    'voc2007': DatasetSpec(
        folder='',
        archives=(
            Archive('http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar',
                    460032000, 'c52e279531787c972589f7e41ab4ae64'),
            Archive('http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar',
                    451020800, 'b6e924de25625d8de591ea690078ad9f'),
        ),
        expected=('VOCdevkit/VOC2007/ImageSets/Main/trainval.txt',
                  'VOCdevkit/VOC2007/ImageSets/Main/test.txt')),
    'voc2012': DatasetSpec(
        folder='',
        archives=(
            Archive('http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar',
                    1999639040, '6cd6e144f989b92b3379bac3b3de84fd'),
        ),
        expected=('VOCdevkit/VOC2012/ImageSets/Main/trainval.txt',)),
}


def download_command(name: str, save_dir: str = 'data') -> str:
    """The command line that downloads and unpacks dataset ``name`` into ``save_dir``."""
    return (f'python tools/misc/download_dataset.py --dataset-name {name} '
            f'--save-dir {save_dir} --unzip')


def which_dataset(path: str) -> Optional[Tuple[str, Optional[str]]]:
    """``(dataset name, save dir)`` of a file one of :data:`DATASETS` provides.

    ``'data/coco/annotations/instances_val2017.json'`` → ``('coco2017', 'data')``.
    The save dir is None when the file sits in another layout
    (``/datasets/mscoco/annotations/instances_val2017.json``).
    """
    path = osp.normpath(path).replace('\\', '/')
    for name, spec in DATASETS.items():
        for expected in spec.expected:
            if path == expected or path.endswith('/' + expected):
                return name, path[:-len(expected)].rstrip('/') or '.'
            tail = expected.split('/', 1)[1]
            if path.endswith('/' + tail):
                return name, None
    return None


def _datasets_of(cfg: dict) -> Iterator[dict]:
    """The leaf dataset configs of a dataloader's dataset (wrappers unpacked)."""
    if not isinstance(cfg, dict):
        return
    inner = [cfg['dataset']] if isinstance(cfg.get('dataset'), dict) else []
    inner += [d for d in cfg.get('datasets') or [] if isinstance(d, dict)]
    if inner:
        for dataset in inner:
            yield from _datasets_of(dataset)
    elif cfg.get('ann_file'):
        yield cfg


def missing_downloads(cfg: ConfigDict,
                      loaders: Tuple[str, ...] = ('train_dataloader', 'val_dataloader')
                      ) -> List[Tuple[str, str, Tuple[str, Optional[str]]]]:
    """Annotation files of ``cfg`` that are missing and one of :data:`DATASETS` provides.

    Returns ``(dataset type, file, (dataset name, save dir))`` for each. Files no
    known dataset provides are left to the dataset class (a generated dataset
    writes its own).
    """
    missing = []
    for loader in loaders:
        for dataset in _datasets_of((cfg.get(loader) or {}).get('dataset')):
            ann_file = str(dataset['ann_file'])
            if not osp.isabs(ann_file) and dataset.get('data_root'):
                ann_file = osp.join(str(dataset['data_root']), ann_file)
            found = which_dataset(ann_file)
            if found is not None and not osp.exists(ann_file):
                missing.append((str(dataset.get('type', 'dataset')), ann_file, found))
    return missing


def missing_dataset_message(cfg: ConfigDict,
                            loaders: Tuple[str, ...] = ('train_dataloader', 'val_dataloader')
                            ) -> Optional[str]:
    """What to run when a public dataset ``cfg`` reads is not on disk, or None."""
    missing = missing_downloads(cfg, loaders)
    if not missing:
        return None
    kind, path, _ = missing[0]
    label = {'CocoDataset': 'COCO', 'VOCDataset': 'VOC'}.get(kind, kind)
    commands = []
    for _, file, (name, save_dir) in missing:
        command = download_command(name, save_dir or 'data')
        if save_dir is None:
            command += f' (then point data_root at the folder that should hold {file})'
        if command not in commands:
            commands.append(command)
    return (f'{label} annotation file not found: {path} (absolute: {osp.abspath(path)}). '
            f'Download the dataset with: {"; ".join(commands)}. docs/datasets.md shows the '
            'folder layout each config expects. To try detkit without downloading anything, '
            'use configs/retinanet_r18_fpn_synthetic.py, which trains on a generated dataset.')
