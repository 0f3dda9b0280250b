"""tools/misc/download_dataset.py on small archives served from 127.0.0.1; train.py's hint.

The official table (URLs, sizes, MD5s) is replaced by archives built here, so
nothing leaves the machine.
"""
import hashlib
import importlib.util
import io
import json
import tarfile
import zipfile
from collections import namedtuple

import pytest

from detkit.utils import dataset_zoo
from detkit.utils.dataset_zoo import Archive, DatasetSpec, which_dataset
from utils.file_server import serving
from .runner import REPO

Usage = namedtuple('Usage', 'total used free')


def load(script):
    spec = importlib.util.spec_from_file_location(script.replace('/', '_'), REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def zipped(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def tarred(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


ANNOTATIONS = json.dumps({'images': [], 'annotations': [], 'categories': []}).encode()
COCO = {
    '/zips/val2017.zip': zipped({'val2017/000000000139.jpg': b'jpeg' * 100}),
    '/annotations/annotations_trainval2017.zip': zipped({
        'annotations/instances_train2017.json': ANNOTATIONS,
        'annotations/instances_val2017.json': ANNOTATIONS}),
    '/zips/train2017.zip': zipped({'train2017/000000000009.jpg': b'jpeg' * 5000}),
}
VOC = {'/voc2012/VOCtrainval_11-May-2012.tar': tarred({
    'VOCdevkit/VOC2012/ImageSets/Main/trainval.txt': b'2008_000008\n',
    'VOCdevkit/VOC2012/Annotations/2008_000008.xml': b'<annotation/>'})}


@pytest.fixture
def server(monkeypatch):
    """COCO and VOC2012 served locally, the dataset table pointing at them."""
    monkeypatch.delenv('DETKIT_OFFLINE', raising=False)
    with serving({**COCO, **VOC}) as files:
        def archives(paths):
            return tuple(Archive(files.url(p), len(files.files[p]),
                                 hashlib.md5(files.files[p]).hexdigest()) for p in paths)
        monkeypatch.setitem(dataset_zoo.DATASETS, 'coco2017', DatasetSpec(
            'coco', archives(COCO), dataset_zoo.DATASETS['coco2017'].expected))
        monkeypatch.setitem(dataset_zoo.DATASETS, 'voc2012', DatasetSpec(
            '', archives(VOC), dataset_zoo.DATASETS['voc2012'].expected))
        yield files


@pytest.fixture(scope='module')
def tool():
    return load('tools/misc/download_dataset.py')


def test_coco_is_downloaded_unpacked_into_the_configs_layout_and_not_again(server, tool,
                                                                          tmp_path):
    args = ['--dataset-name', 'coco2017', '--save-dir', str(tmp_path), '--unzip', '--delete']
    assert tool.run_tool(tool.main, args) == 0
    coco = tmp_path / 'coco'
    assert sorted(p.relative_to(coco).as_posix() for p in coco.rglob('*') if p.is_file()
                  and not p.name.startswith('.')) == [
        'annotations/instances_train2017.json', 'annotations/instances_val2017.json',
        'train2017/000000000009.jpg', 'val2017/000000000139.jpg']
    assert not list(coco.glob('*.zip'))                    # --delete
    requests = len(server.requests)
    assert requests == 3
    assert tool.run_tool(tool.main, args) == 0             # unpacked: nothing to fetch
    assert len(server.requests) == requests


def test_a_broken_transfer_resumes_and_the_tar_unpacks(server, tool, tmp_path):
    name = '/voc2012/VOCtrainval_11-May-2012.tar'
    server.cut_short[name] = 1
    tool.main(['--dataset-name', 'voc2012', '--save-dir', str(tmp_path), '--unzip'])
    assert (tmp_path / 'VOCdevkit/VOC2012/ImageSets/Main/trainval.txt').read_text() == \
        '2008_000008\n'
    assert server.gets(name) == [None, f'bytes={len(VOC[name]) // 2}-']
    assert (tmp_path / 'VOCtrainval_11-May-2012.tar').exists()   # kept without --delete


def test_a_wrong_checksum_fails_with_both_sums_and_keeps_nothing(server, tool, tmp_path,
                                                                 capsys):
    name = '/annotations/annotations_trainval2017.zip'
    server.files[name] = server.files[name][:-3] + b'xyz'   # corrupted, same size
    args = ['--dataset-name', 'coco2017', '--save-dir', str(tmp_path)]
    assert tool.run_tool(tool.main, args) == 1
    err = capsys.readouterr().err
    expected_md5 = hashlib.md5(COCO[name]).hexdigest()
    actual_md5 = hashlib.md5(server.files[name]).hexdigest()
    assert f'its md5 is {actual_md5}, expected {expected_md5}' in err
    assert not (tmp_path / 'coco' / 'annotations_trainval2017.zip').exists()
    assert (tmp_path / 'coco' / 'val2017.zip').exists()      # the ones before it stay


def test_too_little_disk_space_stops_before_downloading(server, tool, tmp_path, monkeypatch,
                                                         capsys):
    monkeypatch.setattr(tool.shutil, 'disk_usage', lambda path: Usage(10, 10, 1000))
    args = ['--dataset-name', 'voc2012', '--save-dir', str(tmp_path), '--unzip']
    assert tool.run_tool(tool.main, args) == 1
    assert f'{tmp_path} has 0.0 GiB free, the download needs' in capsys.readouterr().err
    assert server.requests == []


def test_delete_needs_unzip(tool):
    with pytest.raises(SystemExit):
        tool.parse_args(['--dataset-name', 'voc2007', '--delete'])


def test_the_official_table():
    sizes = {a.name: (a.size, a.md5) for spec in dataset_zoo.DATASETS.values()
             for a in spec.archives}
    assert sizes['train2017.zip'] == (19336861798, 'cced6f7f71b7629ddf16f17bbcfab6b2')
    assert sizes['VOCtest_06-Nov-2007.tar'] == (451020800, 'b6e924de25625d8de591ea690078ad9f')
    assert which_dataset('data/coco/annotations/instances_val2017.json') == ('coco2017', 'data')
    assert which_dataset('/d/VOCdevkit/VOC2007/ImageSets/Main/test.txt') == ('voc2007', '/d')
    assert which_dataset('/x/mscoco/annotations/instances_val2017.json') == ('coco2017', None)
    assert which_dataset('data/my/annotations.json') is None


def test_train_py_on_a_missing_dataset_prints_the_download_command(tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    train = load('tools/train.py')
    assert train.run_tool(train.main, [str(REPO / 'configs/retinanet_r50_fpn.py')]) == 1
    err = capsys.readouterr().err
    assert 'error: COCO annotation file not found: data/coco/annotations/' in err
    assert ('Download the dataset with: python tools/misc/download_dataset.py --dataset-name '
            'coco2017 --save-dir data --unzip.') in err
    assert 'Traceback' not in err
