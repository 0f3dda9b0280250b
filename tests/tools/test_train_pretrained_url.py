"""tools/train.py with a backbone from a file:// URL: into an empty cache, then from it."""
import hashlib
import importlib.util

import torch

from detkit.engine import load_from_local_safe
from detkit.models.backbones import ResNet
from .runner import DEMO, REPO


def train_tool():
    spec = importlib.util.spec_from_file_location('train_tool', REPO / 'tools' / 'train.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_backbone_from_a_file_url_then_from_the_cache(tmp_path, tiny, monkeypatch, capsys):
    torch.manual_seed(0)
    backbone = ResNet(18, base_channels=32, out_indices=(1, 2, 3))
    state = dict(backbone.state_dict(), **{'fc.weight': torch.zeros(10, 256)})
    published = tmp_path / 'published' / 'r18.pth'
    published.parent.mkdir()
    torch.save(state, published)
    sha = hashlib.sha256(published.read_bytes()).hexdigest()
    source = published.rename(published.with_name(f'r18-{sha[:8]}.pth'))
    config = tmp_path / 'pretrained.py'
    config.write_text(
        f'_base_ = [{str(DEMO)!r}]\n'
        f'model = dict(backbone=dict(frozen_stages=1, init_cfg=dict(\n'
        f'    _delete_=True, type="Pretrained", checkpoint={source.as_uri()!r})))\n')
    cache = tmp_path / 'home' / 'checkpoints'
    monkeypatch.setenv('DETKIT_HOME', str(cache.parent))
    monkeypatch.delenv('DETKIT_OFFLINE', raising=False)
    tool = train_tool()
    no_val = {'train_cfg.val_interval': 2}              # one epoch, no evaluation

    argv = [str(config), '--work-dir', str(tmp_path / 'first'), *tiny(max_epochs=1, **no_val)]
    assert tool.run_tool(tool.main, argv) == 0
    assert f'Downloading {source.as_uri()} to {cache / source.name}' in capsys.readouterr().out
    assert (cache / source.name).read_bytes() == source.read_bytes()

    source.unlink()                                     # only the cached copy is left
    monkeypatch.setenv('DETKIT_OFFLINE', '1')
    argv = [str(config), '--work-dir', str(tmp_path / 'second'), *tiny(max_epochs=1, **no_val)]
    assert tool.run_tool(tool.main, argv) == 0
    assert 'Downloading' not in capsys.readouterr().out
    trained = load_from_local_safe(str(tmp_path / 'second' / 'epoch_1.pth'))['state_dict']
    # the stem is frozen: it still holds the file's weights after training
    assert torch.equal(trained['backbone.conv1.weight'], state['conv1.weight'])
    assert torch.equal(trained['backbone.bn1.running_var'], state['bn1.running_var'])
