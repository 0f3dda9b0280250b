"""docs/add_component.md's worked example, run as written: the loss, the config, the command."""
import importlib
import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from detkit.datasets.synthetic import generate_synthetic_coco
from detkit.models.losses import FocalLoss
from detkit.registry import MODELS, UnknownTypeError
from .doc_blocks import REPO, code_blocks

PAGE = REPO / 'docs' / 'add_component.md'


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """A user's project folder: the page's files at the paths their first lines name,
    next to a copy of detkit's configs/."""
    root = tmp_path_factory.mktemp('project')
    shutil.copytree(REPO / 'configs', root / 'configs')
    python = code_blocks(PAGE, 'python')
    assert len(python) == 2
    for block in python:
        path = root / block.splitlines()[0].lstrip('# ').strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block)
    (root / 'my_losses' / '__init__.py').touch()
    return root


@pytest.fixture(scope='module')
def poly_focal_loss(project):
    """The page's module, imported as the config's custom_imports will find it."""
    sys.path.insert(0, str(project))
    try:
        module = importlib.import_module('my_losses.poly_focal_loss')  # registers the loss
    finally:
        sys.path.remove(str(project))
    yield module.PolyFocalLoss
    for name in ('my_losses.poly_focal_loss', 'my_losses'):
        sys.modules.pop(name, None)


def test_the_loss_is_twenty_lines():
    loss_block = code_blocks(PAGE, 'python')[0]
    body = loss_block[loss_block.index('@MODELS.register_module()'):]
    assert len([line for line in body.splitlines() if line.strip()]) <= 20


def test_epsilon_zero_is_the_focal_loss_and_epsilon_adds_the_poly_term(poly_focal_loss):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=gen) * 3
    labels = torch.randint(0, 5, (50,), generator=gen)          # 4 = background
    weight = (torch.rand(50, generator=gen) > 0.2).float()
    focal = FocalLoss()(logits, labels, weight, avg_factor=7.0)
    torch.testing.assert_close(poly_focal_loss(epsilon=0.0)(logits, labels, weight, 7.0),
                               focal, rtol=1e-5, atol=0)
    target = torch.nn.functional.one_hot(labels, 5)[:, :4].float()
    p_t = torch.where(target > 0, logits.sigmoid(), 1 - logits.sigmoid())
    poly = ((1 - p_t) ** 3 * weight[:, None]).sum() / 7.0
    torch.testing.assert_close(poly_focal_loss(epsilon=0.5)(logits, labels, weight, 7.0),
                               focal + 0.5 * poly, rtol=1e-5, atol=0)


def test_a_misspelt_type_names_the_registered_one(project, poly_focal_loss):
    cfg = Config.fromfile(project / 'configs' / 'retinanet_r18_fpn_synthetic_polyfocal.py')
    cfg.model.bbox_head.loss_cls.type = 'PolyFocalLos'
    with pytest.raises(UnknownTypeError, match=r'"PolyFocalLos" is not registered in '
                       r'detkit\'s "model" registry.*Did you mean "PolyFocalLoss"'
                       r'.*config "model\.bbox_head\.loss_cls"'):
        MODELS.build(cfg.model)


def test_the_command_trains_with_the_new_loss(project, tmp_path):
    (command,) = [line for block in code_blocks(PAGE, 'bash') for line in block.splitlines()
                  if 'tools/train.py' in line]
    words = shlex.split(command)
    assert words[:3] == ['PYTHONPATH=.', 'python', 'tools/train.py']
    data = tmp_path / 'data'
    generate_synthetic_coco(str(data), num_train=8, num_val=4)
    shrink = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
              'param_scheduler.0.end=2', 'train_dataloader.batch_size=2',
              'default_hooks.logger.interval=1', 'log_processor.window_size=1']
    for split in ('train', 'val', 'test'):
        shrink += [f'{split}_dataloader.dataset.data_root={data}',
                   f'{split}_dataloader.dataset.pipeline.2.scale=(128,128)']
    env = dict(os.environ, PYTHONPATH=str(project), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), *words[3:],
                           '--work-dir', str(tmp_path / 'work'), '--cfg-options', *shrink],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = Config.fromfile(tmp_path / 'work' / 'retinanet_r18_fpn_synthetic_polyfocal.py',
                               import_custom_modules=False)
    assert resolved.model.bbox_head.loss_cls == dict(type='PolyFocalLoss', epsilon=1.0)
    (log,) = (tmp_path / 'work').glob('*/vis_data/scalars.json')
    losses = [json.loads(line)['loss_cls'] for line in log.read_text().splitlines()
              if 'loss_cls' in line]
    assert len(losses) == 4 and all(0 < value < 100 for value in losses)
