"""tools/browse_dataset.py and benchmarks/data_pipeline.py on a tiny synthetic set."""
import importlib.util
import os

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from detkit.datasets import generate_synthetic_coco
from detkit.structures import DetDataSample

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(REPO, 'configs', '_base_', 'datasets', 'synthetic_detection.py')


def load(relative_path):
    spec = importlib.util.spec_from_file_location(
        os.path.basename(relative_path)[:-3], os.path.join(REPO, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('tools')
    root = generate_synthetic_coco(str(tmp / 'set'), num_train=6, num_val=2)['root']
    path = tmp / 'cfg.py'
    path.write_text(f'_base_ = [{BASE!r}]\n'
                    f'train_dataloader = dict(dataset=dict(data_root={root!r}))\n'
                    f'val_dataloader = dict(dataset=dict(data_root={root!r}))\n')
    return str(path)


@pytest.mark.parametrize('phase, count', [('train', 3), ('val', 2)])
def test_browse_dataset_writes_pngs(config, tmp_path, phase, count):
    browse = load('tools/browse_dataset.py')
    browse.main([config, '--output-dir', str(tmp_path / 'out'), '--not-show',
                 '--max-images', '3', '--phase', phase])
    files = sorted(os.listdir(tmp_path / 'out'))
    assert len(files) == count and files[0] == '0000_000001.png'
    img = cv2.imread(str(tmp_path / 'out' / files[0]))
    assert img.ndim == 3 and min(img.shape[:2]) >= 192


def test_draw_sample_uses_class_colours_and_greys_ignore_regions():
    browse = load('tools/browse_dataset.py')
    sample = DetDataSample()
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 30., 50., 60.]]),
                                       labels=torch.tensor([1]))
    sample.ignored_instances = InstanceData(bboxes=torch.tensor([[60., 5., 90., 20.]]),
                                            labels=torch.tensor([0]))
    img = browse.draw_sample(np.zeros((64, 96, 3), np.uint8), sample, ('a', 'b'),
                             [(255, 0, 0), (0, 200, 100)])
    assert img[60, 30].tolist() == [100, 200, 0]  # bottom edge of the box, BGR of palette[1]
    assert img[20, 75].tolist() == list(browse.IGNORE_COLOUR)
    assert img[45, 30].tolist() == [0, 0, 0]  # inside stays untouched


def test_data_pipeline_benchmark_reports_images_per_second(config):
    bench = load('benchmarks/data_pipeline.py')
    speeds = bench.run(config, workers=[0], num_images=4)
    assert list(speeds) == [0] and speeds[0] > 0
