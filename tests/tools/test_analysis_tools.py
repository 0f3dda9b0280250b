"""tools/analysis_tools: analyze_logs, get_flops, print_config, confusion_matrix."""
import importlib.util
import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from detkit.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'retinanet_r18_fpn_synthetic.py'


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / 'analysis_tools' /
                                                  f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(module, *args) -> int:
    """A tool's ``main`` as the command line runs it (errors → message, exit code 1)."""
    return module.run_tool(module.main, [str(a) for a in args])


# ------------------------------------------------------------------ analyze_logs
@pytest.fixture(scope='module')
def log_file(tmp_path_factory):
    """Two epochs of 4 iterations, logged every 2, and a validation after each epoch."""
    lines = []
    for epoch in (1, 2):
        for it in (2, 4):
            step = (epoch - 1) * 4 + it
            lines.append(dict(lr=0.01, loss=2.0 / step, loss_cls=1.0 / step,
                              time=0.1 * epoch, data_time=0.01, epoch=epoch, iter=step,
                              step=step))
        lines.append({'coco/bbox_mAP': 0.1 * epoch, 'data_time': 0.0, 'time': 0.2,
                      'step': epoch})
    path = tmp_path_factory.mktemp('log') / '20260101_000000.json'
    path.write_text('\n'.join(json.dumps(x) for x in lines) + '\n')
    return path


def test_series_takes_training_values_by_iteration_and_metrics_by_epoch(log_file):
    tool = load_tool('analyze_logs')
    train, val = tool.read_log(str(log_file))
    assert tool.series(train, val, 'loss', 'x') == (([2, 4, 6, 8], [1.0, 0.5, 2 / 6, 0.25]),
                                                    'iteration')
    assert tool.series(train, val, 'coco/bbox_mAP', 'x') == (([1, 2], [0.1, 0.2]), 'epoch')


def test_plot_curve_writes_one_panel_per_key(log_file, tmp_path):
    out = tmp_path / 'curves.png'
    code = run(load_tool('analyze_logs'), 'plot_curve', log_file, log_file, '--keys', 'loss',
               'loss_cls', 'coco/bbox_mAP', '--legend', 'a', 'b', '--out', out)
    assert code == 0
    image = cv2.imread(str(out))
    assert image.shape == (3 * 280, 800, 3)                  # 8 x 2.8 in per panel, 100 dpi
    assert (image < 128).any() and (image == 255).mean() > 0.5   # lines on white


def test_cal_train_time_averages_per_epoch(log_file, capsys):
    assert run(load_tool('analyze_logs'), 'cal_train_time', log_file) == 0
    out = capsys.readouterr().out
    assert 'slowest epoch 2: 0.2000 s/iter' in out and 'fastest epoch 1: 0.1000 s/iter' in out
    assert 'average: 0.1500 s/iter' in out and 'time std over epochs: 0.0500' in out


def test_analyze_logs_errors_name_the_culprit(log_file, tmp_path, capsys):
    tool = load_tool('analyze_logs')
    assert run(tool, 'plot_curve', log_file, '--keys', 'loss_box', '--out', tmp_path / 'x.png') == 1
    assert '"loss_box" is not logged in' in capsys.readouterr().err
    text_log = tmp_path / 'run.log'
    text_log.write_text('{"lr": 0.1}\n2026/01/01 Epoch(train) [1][2/4] loss: 1.0\n')
    assert run(tool, 'cal_train_time', text_log) == 1
    assert f'{text_log}, line 2 is not JSON' in capsys.readouterr().err
    assert run(tool, 'cal_train_time', tmp_path / 'missing.json') == 1
    assert 'log file not found' in capsys.readouterr().err


# ------------------------------------------------------------------ get_flops
def conv_flops_by_hand(model: nn.Module, images: torch.Tensor) -> int:
    """2 · C_in/groups · k_h · k_w · C_out · H_out · W_out summed over every conv call."""
    total = []

    def hook(conv, inputs, output):
        k_h, k_w = conv.kernel_size
        total.append(2 * conv.in_channels // conv.groups * k_h * k_w * output.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(images, mode='tensor')
    for handle in handles:
        handle.remove()
    return sum(total)


@pytest.mark.skipif(not hasattr(FlopCounterMode(), 'mod_tracker'),
                    reason='per-module FLOP counts need torch>=2.4')
def test_get_flops_counts_every_convolution(capsys):
    tool = load_tool('get_flops')
    model = MODELS.build(Config.fromfile(DEMO).model).eval()
    assert tool.input_shape(model, [100, 130]) == (128, 160)     # pad_size_divisor 32
    flops = tool.count(model, 128, 160)
    assert flops[''] == conv_flops_by_hand(model, torch.zeros(1, 3, 128, 160))
    assert flops[''] == flops['backbone'] + flops['neck'] + flops['bbox_head']

    assert run(tool, DEMO, '--shape', 100, 130, '--depth', 1) == 0
    out = capsys.readouterr().out
    params = sum(p.numel() for p in model.parameters())
    assert 'Input shape: (1, 3, 128, 160) (padded to the pad_size_divisor)' in out
    assert f'FLOPs: {flops[""] / 1e9:.2f} G' in out and f'Params: {params / 1e6:.2f} M' in out
    assert '  bbox_head ' in out and 'layer1' not in out              # depth 1


# ------------------------------------------------------------------ print_config
def test_print_config_resolves_bases_and_overrides(tmp_path, capsys):
    out = tmp_path / 'resolved.py'
    assert run(load_tool('print_config'), DEMO, '--cfg-options',
               'model.bbox_head.num_classes=7', '--out', out) == 0
    printed = capsys.readouterr().out
    assert 'num_classes=7' in printed and "type='FocalLoss'" in printed   # from the base
    resolved = Config.fromfile(out)
    assert '_base_ =' not in out.read_text()
    assert resolved.model.bbox_head.num_classes == 7
    assert resolved.train_dataloader == Config.fromfile(DEMO).train_dataloader


def test_print_config_writes_yaml_that_the_safe_loader_reads(tmp_path):
    from detkit.utils import load_config
    out = tmp_path / 'resolved.yaml'
    assert run(load_tool('print_config'), DEMO, '--out', out) == 0
    assert '!!python' not in out.read_text()
    resolved = load_config(str(out))
    assert resolved.model.backbone.out_indices == [1, 2, 3]     # a tuple in the .py
    assert type(MODELS.build(resolved.model)).__name__ == 'RetinaNet'


def test_print_config_names_a_missing_file(capsys):
    assert run(load_tool('print_config'), 'configs/nope.py') == 1
    assert 'config file not found: configs/nope.py' in capsys.readouterr().err


# ------------------------------------------------------------------ confusion_matrix
def test_accumulate_counts_hits_confusions_misses_and_false_alarms():
    tool = load_tool('confusion_matrix')
    gt = dict(bboxes=np.array([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], np.float32),
              labels=np.array([0, 1, 1]), ignored=np.array([[70, 70, 90, 90]], np.float32))
    det = dict(bboxes=np.array([[0, 0, 10, 10],        # class 0 on the class-0 object: hit
                                [20, 20, 40, 41],      # class 0 on a class-1 object
                                [100, 100, 110, 110],  # class 1 on nothing: false alarm
                                [70, 70, 90, 90],      # on the ignore region: not counted
                                [50, 50, 60, 60]]),    # below the score threshold
               scores=np.array([0.9, 0.8, 0.7, 0.9, 0.1]), labels=np.array([0, 0, 1, 1, 1]))
    matrix = np.zeros((3, 3), np.int64)
    tool.accumulate(matrix, det, gt, score_thr=0.3, iou_thr=0.5)
    np.testing.assert_array_equal(matrix, [[1, 0, 0],     # truth 0: found
                                           [1, 0, 2],     # truth 1: once as 0, both missed
                                           [0, 1, 0]])    # background: one class-1 alarm


@pytest.fixture(scope='module')
def perfect_results(synthetic_root, tmp_path_factory):
    """The val set's own boxes as detections (score 1), in tools/test.py's .pkl format."""
    ann = json.loads((synthetic_root / 'annotations' / 'instances_val.json').read_text())
    cat_to_label = {c['id']: i for i, c in enumerate(ann['categories'])}
    records = []
    for image in ann['images']:
        objs = [a for a in ann['annotations'] if a['image_id'] == image['id'] and
                not a.get('iscrowd', 0)]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in objs)],
                         np.float64).reshape(-1, 4)
        records.append(dict(img_id=image['id'], img_path=image['file_name'],
                            ori_shape=(image['height'], image['width']), bboxes=boxes,
                            scores=np.ones(len(objs)),
                            labels=np.array([cat_to_label[a['category_id']] for a in objs])))
    path = tmp_path_factory.mktemp('results') / 'results.pkl'
    path.write_bytes(pickle.dumps(records))
    return path, sum(len(r['labels']) for r in records)


def test_confusion_matrix_of_perfect_detections_is_diagonal(perfect_results, synthetic_root,
                                                             tmp_path, capsys):
    results, num_objects = perfect_results
    out = tmp_path / 'confusion.png'
    assert run(load_tool('confusion_matrix'), DEMO, results, '--out', out, '--cfg-options',
               f'test_dataloader.dataset.data_root={synthetic_root}') == 0
    rows = [line.split()[-6:] for line in capsys.readouterr().out.splitlines()[1:7]]
    matrix = np.array(rows, np.int64)
    assert matrix.trace() == num_objects and matrix.sum() == num_objects
    image = cv2.imread(str(out))
    assert image is not None and min(image.shape[:2]) >= 400


def test_confusion_matrix_refuses_pickles_with_code(tmp_path, capsys):
    evil = tmp_path / 'results.pkl'
    evil.write_bytes(pickle.dumps([dict(img_id=0, bboxes=Path('x'), scores=0, labels=0)]))
    assert run(load_tool('confusion_matrix'), DEMO, evil, '--out', tmp_path / 'x.png') == 1
    err = capsys.readouterr().err
    assert 'is not a results file of tools/test.py' in err
    assert 'pathlib' in err and 'is not a numpy array type' in err


def test_analysis_tools_help():
    for name in ('analyze_logs', 'get_flops', 'print_config', 'confusion_matrix'):
        with pytest.raises(SystemExit) as exit:
            load_tool(name).parse_args(['--help'])
        assert exit.value.code == 0
