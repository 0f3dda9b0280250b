"""tools/benchmark.py runs end to end at a toy size and reports every measure (no timing)."""
import json
import math
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
sys.path.insert(0, ROOT)

import benchmark  # noqa: E402  (tools/benchmark.py)

REQUIRED = ('train_step', 'infer_b1', 'infer_b8', 'loss_part', 'postprocess', 'peak_mem_train')


def test_compare_writes_every_measure_as_json(tmp_path):
    out = tmp_path / 'bench.json'
    benchmark.main(['--size', '64', '64', '--repeats', '1', '--warmup', '0',
                    '--num-classes', '2', '--mem-steps', '1', '--threads', '1',
                    '--device', 'cpu', '--json', str(out)])
    report = json.loads(out.read_text())
    for name in REQUIRED:
        entry = report[name]
        assert set(entry) >= {'detkit', 'torchvision', 'ratio'}, name
        assert entry['detkit'] > 0 and entry['torchvision'] > 0, name
        assert math.isclose(entry['ratio'], entry['detkit'] / entry['torchvision']), name
    assert report['_meta']['options']['channels_last'] is True


def test_coco_eval_mode_reports_identical_numbers(tmp_path):
    out = tmp_path / 'eval.json'
    benchmark.main(['--mode', 'coco-eval', '--eval-images', '20', '--eval-dets', '30',
                    '--num-classes', '5', '--json', str(out)])
    report = json.loads(out.read_text())
    exact = report['pycocotools (loadRes + COCOeval)']['stats']
    for backend in ('pycocotools', 'faster_coco_eval'):
        if f'CocoMetric, {backend}' in report:
            entry = report[f'CocoMetric, {backend}']
            assert entry['identical'], entry
            assert entry['stats'] == [round(v, 3) for v in exact]


def test_unknown_mode_is_refused():
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--mode', 'everything'])


def test_throughput_mode_reports_every_side(tmp_path):
    out = tmp_path / 'throughput.json'
    benchmark.main(['--mode', 'throughput', '--size', '64', '64', '--batches', '2',
                    '--repeats', '1', '--warmup', '0', '--num-classes', '2', '--threads', '1',
                    '--device', 'cpu', '--json', str(out)])
    report = json.loads(out.read_text())
    row = report['2']
    assert min(row['detkit'], row['detkit_graph'], row['torchvision']) > 0
    assert min(report['demo_seconds_per_iter'].values()) > 0
    assert math.isclose(row['graph_vs_torchvision'], row['detkit_graph'] / row['torchvision'])
