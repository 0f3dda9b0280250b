"""Download a public detection dataset from its official host, checked and resumable.

    python tools/misc/download_dataset.py --dataset-name coco2017 --save-dir data --unzip

``coco2017`` goes to ``<save-dir>/coco/`` (train2017/, val2017/,
annotations/), ``voc2007`` and ``voc2012`` to ``<save-dir>/VOCdevkit/`` — the
layout the configs expect (docs/datasets.md). Each archive is checked against
its published size and MD5; a broken or killed download resumes where it
stopped when the command is run again. ``--unzip`` unpacks the archives,
``--delete`` then removes them. Before downloading, the free disk space is
checked. ``DETKIT_OFFLINE=1`` forbids downloading (archives already on disk
are still unpacked).
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tarfile
import zipfile
from typing import Optional, Sequence

from detkit.engine.runner_utils import run_tool
from detkit.utils import dataset_zoo
from detkit.utils.download import download_file
from detkit.utils.transfer_progress import TransferProgress


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Download COCO 2017 or Pascal VOC from the official hosts (size and '
        'MD5 checked, resumable).')
    parser.add_argument('--dataset-name', required=True, choices=sorted(dataset_zoo.DATASETS),
                        help='which dataset')
    parser.add_argument('--save-dir', default='data',
                        help='folder that receives coco/ or VOCdevkit/ (default: data)')
    parser.add_argument('--unzip', action='store_true', help='unpack the archives')
    parser.add_argument('--delete', action='store_true',
                        help='delete each archive once it is unpacked (needs --unzip)')
    args = parser.parse_args(argv)
    if args.delete and not args.unzip:
        parser.error('--delete removes archives after unpacking them: add --unzip')
    return args


def _gib(num_bytes: float) -> str:
    return f'{num_bytes / 2**30:.1f} GiB'


def check_free_space(folder: str, needed: int) -> None:
    """Refuse to start when ``folder``'s disk has less than ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(f'{folder} has {_gib(free)} free, the download needs {_gib(needed)}: '
                      'free some space or choose another --save-dir')


def unpack(archive: str, folder: str) -> None:
    """Extract a .zip or .tar into ``folder`` (members may not leave it), with progress."""
    print(f'Unpacking {archive} into {folder}', flush=True)
    name = f'unpacking {osp.basename(archive)}'
    if archive.endswith('.zip'):
        with zipfile.ZipFile(archive) as z:  # extract drops absolute paths and '..'
            members = z.infolist()
            bar = TransferProgress(name, 0, sum(m.file_size for m in members))
            for member in members:
                z.extract(member, folder)
                bar.update(member.file_size)
    else:
        # the 'data' filter refuses links and paths that leave the folder
        safe = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
        bar = TransferProgress(name, 0, osp.getsize(archive))
        with tarfile.open(archive) as t:
            for member in t:
                t.extract(member, folder, **safe)
                bar.update(t.offset - bar.done)  # where in the archive the next header is
    bar.close()


def fetch(name: str, save_dir: str, unzip: bool, delete: bool) -> None:
    """Download (and unpack) every archive of dataset ``name`` under ``save_dir``."""
    spec = dataset_zoo.DATASETS[name]
    folder = osp.join(save_dir, spec.folder) if spec.folder else save_dir
    os.makedirs(folder, exist_ok=True)
    for archive in spec.archives:
        path = osp.join(folder, archive.name)
        marker = osp.join(folder, f'.{archive.name}.unpacked')
        if unzip and osp.exists(marker):
            print(f'{archive.name}: already unpacked in {folder}', flush=True)
            continue
        if not osp.exists(path):
            part = path + '.part'
            done = osp.getsize(part) if osp.exists(part) else 0
            # unpacking needs about as much room again as the archive holds
            check_free_space(folder, archive.size - done + (archive.size if unzip else 0))
        download_file(archive.url, path, checksum=f'md5:{archive.md5}', size=archive.size)
        if unzip:
            unpack(path, folder)
            open(marker, 'w').close()
            if delete:
                os.remove(path)
    if unzip:
        absent = [f for f in spec.expected if not osp.exists(osp.join(save_dir, f))]
        if absent:
            raise FileNotFoundError(f'{name}: after unpacking, {", ".join(absent)} is missing '
                                    f'under {save_dir}; the archives are not the expected ones')
        print(f'{name} is ready under {folder}', flush=True)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    fetch(args.dataset_name, args.save_dir, args.unzip, args.delete)


if __name__ == '__main__':
    sys.exit(run_tool(main))
