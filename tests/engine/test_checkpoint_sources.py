"""Checkpoint sources: local paths, torchvision://, open-mmlab://, http(s):// and file://.

Every remote file comes from a server on 127.0.0.1 started by the test, or a file:// URL.
"""
import hashlib
import io
from pathlib import Path

import pytest
import torch
from mmengine.runner import CheckpointLoader
from torchvision.models import ResNet50_Weights

from detkit.engine import checkpoint_sources
from detkit.engine.checkpoint import CorruptCheckpointError
from detkit.engine.checkpoint_sources import (CheckpointSourceError, load_from_source,
                                              resolve_checkpoint, torchvision_model_urls)
from detkit.utils.download import ChecksumError, OfflineError
from utils.file_server import serving

STATE = {'conv1.weight': torch.arange(24.).reshape(2, 3, 2, 2), 'fc.bias': torch.ones(3)}


def saved(state=STATE) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


BLOB = saved()
SHA = hashlib.sha256(BLOB).hexdigest()
NAME = f'net-{SHA[:8]}.pth'


@pytest.fixture(autouse=True)
def caches(tmp_path, monkeypatch):
    """An empty detkit cache and torch hub, downloads allowed."""
    monkeypatch.setenv('DETKIT_HOME', str(tmp_path / 'detkit'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    for name in ('DETKIT_OFFLINE', 'HF_HUB_OFFLINE'):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / 'detkit' / 'checkpoints'


@pytest.fixture
def server():
    with serving({f'/{NAME}': BLOB, '/plain.pth': BLOB}) as files:
        yield files


def assert_state(loaded):
    assert list(loaded) == list(STATE)
    assert torch.equal(loaded['conv1.weight'], STATE['conv1.weight'])


def test_the_torchvision_table_comes_from_torchvision_weight_enums():
    urls = torchvision_model_urls()
    assert urls['resnet50'] == 'https://download.pytorch.org/models/resnet50-0676ba61.pth'
    assert urls['resnet18'].endswith('/resnet18-f37072fd.pth')
    assert urls['resnet101'].endswith('/resnet101-63fe2227.pth')
    assert urls['resnet50.imagenet1k_v2'] == ResNet50_Weights.IMAGENET1K_V2.url
    assert urls['resnet50.default'] == ResNet50_Weights.DEFAULT.url
    assert urls['ResNet50_Weights.IMAGENET1K_V1'] == urls['resnet50']


def test_a_url_is_downloaded_into_the_cache_once(server, caches):
    assert_state(load_from_source(server.url(NAME)))
    assert (caches / NAME).read_bytes() == BLOB
    assert_state(load_from_source(server.url(NAME)))
    assert server.gets(NAME) == [None]


def test_torchvision_names_resolve_through_the_table(server, caches, monkeypatch):
    monkeypatch.setattr(checkpoint_sources, 'torchvision_model_urls',
                        lambda: {'resnet50': server.url(NAME)})
    assert resolve_checkpoint('torchvision://resnet50') == str(caches / NAME)
    assert resolve_checkpoint('modelzoo://resnet50') == str(caches / NAME)
    with pytest.raises(CheckpointSourceError,
                       match=r"no model named 'resnet5'; did you mean torchvision://resnet50\?"):
        resolve_checkpoint('torchvision://resnet5')


def test_open_mmlab_names_use_mmengines_table(server, caches, monkeypatch):
    monkeypatch.setattr(checkpoint_sources, 'get_external_models',
                        lambda: {'detectron2/resnet50_caffe': server.url(NAME)})
    assert resolve_checkpoint('open-mmlab://detectron2/resnet50_caffe') == str(caches / NAME)
    with pytest.raises(CheckpointSourceError,
                       match="openmmlab:// has no model named 'nothing_like_it'"):
        resolve_checkpoint('openmmlab://nothing_like_it')


def test_the_hash_in_the_name_is_checked(server, caches):
    server.files[f'/{NAME}'] = saved({'other': torch.zeros(1)})
    with pytest.raises(ChecksumError, match=f'expected {SHA[:8]}. .*"-{SHA[:8]}" in the file '
                                            'name .* appending #sha256=<hex> to the source'):
        load_from_source(server.url(NAME))
    assert not (caches / NAME).exists()


def test_a_sha256_in_the_source_wins_over_the_name(server):
    wrong = '0' * 64
    with pytest.raises(ChecksumError, match=f'its sha256 is {SHA}, expected {wrong}'):
        resolve_checkpoint(f'{server.url("plain.pth")}#sha256={wrong}')
    assert_state(load_from_source(f'{server.url("plain.pth")}#sha256={SHA}'))
    with pytest.raises(ChecksumError, match='expected 12345678'):
        resolve_checkpoint(server.url(NAME), sha256='12345678')
    with pytest.raises(CheckpointSourceError, match='at least 8 hex digits'):
        resolve_checkpoint(f'{server.url("plain.pth")}#sha256=0676ba6g')


def test_files_without_a_hash_in_the_name_are_cached_per_url(caches):
    other = {'w': torch.zeros(2)}
    with serving({'/a/model.pth': BLOB, '/b/model.pth': saved(other)}) as files:
        first = resolve_checkpoint(files.url('a/model.pth'))
        second = resolve_checkpoint(files.url('b/model.pth'))
        assert_state(load_from_source(files.url('a/model.pth')))
    assert first != second and first.endswith('/model.pth')
    assert torch.equal(torch.load(second, weights_only=True)['w'], other['w'])
    assert [p.parent.parent for p in map(Path, (first, second))] == [caches, caches]


def test_a_stale_cached_file_fails_an_explicit_sha256(server):
    path = resolve_checkpoint(server.url('plain.pth'))
    with pytest.raises(ChecksumError, match='a stale cached download can be deleted'):
        resolve_checkpoint(f'{server.url("plain.pth")}#sha256=abcdef12')
    assert resolve_checkpoint(f'{server.url("plain.pth")}#sha256={SHA[:8]}') == path
    assert server.gets('plain.pth') == [None]


def test_a_local_file_with_a_sha256_is_checked_and_never_deleted(tmp_path):
    path = tmp_path / 'local.pth'
    path.write_bytes(BLOB)
    assert resolve_checkpoint(f'{path}#sha256={SHA[:10]}') == str(path)
    with pytest.raises(ChecksumError, match='not the file the config names'):
        resolve_checkpoint(f'{path}#sha256=abcdef12')
    assert path.exists()


def test_torch_hubs_copy_is_used_when_present(server, tmp_path, caches):
    hub = tmp_path / 'torch' / 'hub' / 'checkpoints'
    hub.mkdir(parents=True)
    (hub / NAME).write_bytes(BLOB)
    assert resolve_checkpoint(server.url(NAME)) == str(hub / NAME)
    assert server.requests == [] and not caches.exists()


def test_file_urls_and_mmengines_checkpoint_loader(tmp_path, caches):
    source = tmp_path / NAME
    source.write_bytes(BLOB)
    assert_state(CheckpointLoader.load_checkpoint(source.as_uri(), map_location='cpu'))
    assert (caches / NAME).read_bytes() == BLOB


def test_offline_with_an_empty_cache_says_where_to_put_the_file(server, caches, monkeypatch):
    monkeypatch.setenv('DETKIT_OFFLINE', '1')
    with pytest.raises(OfflineError) as err:
        load_from_source(server.url(NAME))
    assert f'The file is expected at {caches / NAME}' in str(err.value)
    (caches).mkdir(parents=True)
    (caches / NAME).write_bytes(BLOB)                  # placed by hand
    assert_state(load_from_source(server.url(NAME)))
    assert server.requests == []


def test_a_corrupt_cached_download_names_the_url(server, caches):
    caches.mkdir(parents=True)
    (caches / NAME).write_bytes(BLOB[:len(BLOB) // 2])
    with pytest.raises(CorruptCheckpointError) as err:
        load_from_source(server.url(NAME))
    message = str(err.value)
    assert f'"{caches / NAME}" is truncated or corrupt' in message
    assert f'cached download of {server.url(NAME)}' in message
    assert 'the next run downloads it again' in message
