"""ATSS and GFL detectors: MMDetection's configs, state_dicts, and a short training run."""
import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from detkit.registry import MODELS
from detkit.structures import DetDataSample, GtBatch

ROOT = Path(__file__).parents[3]
STOCK = {'atss': 'atss_r50_fpn_1x_coco', 'gfl': 'gfl_r50_fpn_1x_coco'}


def stock_section(name):
    """``(header fields, [(state_dict name, shape)])`` of one model of
    tests/data/family_state_dict_keys.txt."""
    lines = (ROOT / 'tests/data/family_state_dict_keys.txt').read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f'[{name}]'))
    header = dict(field.split('=') for field in lines[start].split()[1:])
    entries = []
    for line in lines[start + 1:]:
        if line.startswith('['):
            break
        if not line.startswith('#'):
            key, shape = line.split('\t')
            entries.append((key, json.loads(shape)))
    return header, entries


def stock_model(detector):
    cfg = Config.fromfile(ROOT / 'configs' / detector / f'{STOCK[detector]}.py')
    cfg.model.backbone.init_cfg = None
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('detector', ['atss', 'gfl'])
def test_stock_config_has_mmdetections_state_dict_and_loads_it_strictly(detector):
    header, entries = stock_section(STOCK[detector])
    cfg, model = stock_model(detector)
    assert header['config'] == f'configs/{detector}/{STOCK[detector]}.py'
    assert type(model).__name__ == header['detector'] == cfg.model.type
    assert type(model.bbox_head).__name__ == header['head']
    state = model.state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == entries
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == int(header['parameters'])
    assert sum(v.numel() for v in state.values()) == int(header['state_dict_values'])
    assert sum(p.numel() for p in params if p.requires_grad) == int(header['trainable'])
    # an MMDetection checkpoint of that layout loads strictly, every value where it belongs
    gen = torch.Generator().manual_seed(0)
    theirs = {k: torch.randn(v.shape, generator=gen).to(v.dtype) for k, v in state.items()}
    model.load_state_dict(theirs, strict=True)
    for key in ('bbox_head.scales.4.scale', 'bbox_head.cls_convs.3.gn.bias',
                'neck.fpn_convs.3.conv.weight'):
        assert torch.equal(model.state_dict()[key], theirs[key])


@pytest.mark.parametrize('detector', ['atss', 'gfl'])
def test_stock_head_config_is_the_one_the_reference_was_made_from(detector, load_ref):
    """The reference head is the shipped config's head, train_cfg and test_cfg with
    the sizes made small; ours must give the same dicts."""
    cfg = Config.fromfile(ROOT / 'configs' / detector / f'{STOCK[detector]}.py')
    ours = copy.deepcopy(cfg.model.bbox_head.to_dict())
    ours.update(num_classes=4, in_channels=32, feat_channels=32, stacked_convs=2,
                norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
                train_cfg=cfg.model.train_cfg.to_dict(), test_cfg=cfg.model.test_cfg.to_dict())
    assert ours == load_ref(f'{detector}_head')['meta']['head_cfg']


def train_main():
    """tools/train.py's ``main(argv)``, to run in this process (no interpreter start-up)."""
    spec = importlib.util.spec_from_file_location('detkit_train_tool', ROOT / 'tools/train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def check_short_training(config: Path, losses: set, tiny, work_dir: Path) -> None:
    """Train ``config`` for 2 iterations on the tiny synthetic set and evaluate it, in this
    process; every logged step has the ``losses``, finite, summing to ``loss``."""
    train_main()([str(config), '--work-dir', str(work_dir),
                  *tiny(max_epochs=1), 'train_dataloader.dataset.indices=4'])
    (log,) = work_dir.glob('*/vis_data/scalars.json')
    records = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [r for r in records if 'loss' in r]
    assert len(steps) == 2
    for step in steps:
        assert losses <= set(step) and all(0 <= step[k] < 100 for k in losses)
        assert step['loss'] == pytest.approx(sum(step[k] for k in losses), rel=1e-4)
    (metrics,) = [r for r in records if 'coco/bbox_mAP' in r]
    assert 0 <= metrics['coco/bbox_mAP'] <= 1


@pytest.mark.parametrize('detector, losses', [
    ('atss', {'loss_cls', 'loss_bbox', 'loss_centerness'}),
    ('gfl', {'loss_cls', 'loss_bbox', 'loss_dfl'})])
def test_synthetic_config_trains_and_evaluates(detector, losses, tiny, tmp_path):
    config = ROOT / 'configs' / detector / f'{detector}_r18_fpn_synthetic.py'
    check_short_training(config, losses, tiny, tmp_path)


@pytest.mark.parametrize('detector', ['atss', 'gfl'])
def test_losses_from_padded_gts_equal_the_losses_from_samples(detector):
    """The static-shape path (CUDA-graph training: gts padded to a fixed capacity)
    gives the losses of the ordinary one."""
    cfg = Config.fromfile(ROOT / 'configs' / detector / f'{detector}_r18_fpn_synthetic.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    inputs = torch.randn(2, 3, 128, 96)
    metas = [dict(img_shape=(128, 96), pad_shape=(128, 96)),
             dict(img_shape=(100, 90), pad_shape=(128, 96))]
    boxes = [torch.tensor([[10., 20., 60., 90.], [40., 5., 90., 50.]]),
             torch.tensor([[30., 30., 80., 95.]])]
    samples = []
    for meta, bboxes in zip(metas, boxes):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=bboxes, labels=torch.arange(len(bboxes)))
        samples.append(sample)
    gts = GtBatch.from_instances([s.gt_instances for s in samples], metas, capacity=5)
    ours = model.loss_from_gts(inputs, gts)
    plain = model.loss(inputs, samples)
    assert set(ours) == set(plain)
    for name in plain:
        torch.testing.assert_close(ours[name], plain[name], rtol=1e-6, atol=1e-7)
    assert all(v > 0 for v in plain.values())
