"""tools/benchmark.py --mode heads: the loss part of each dense head, at a toy size."""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
sys.path.insert(0, ROOT)

import benchmark  # noqa: E402  (tools/benchmark.py)
from benchmarks.heads import HEAD_CONFIGS  # noqa: E402

#: small models (half-width ResNet-18) with the same heads as the default R50 configs
SMALL = ['configs/retinanet_r18_fpn_synthetic.py', 'configs/atss/atss_r18_fpn_synthetic.py',
         'configs/gfl/gfl_r18_fpn_synthetic.py', 'configs/fcos/fcos_r18_fpn_synthetic.py']


def test_the_default_heads_are_retinanet_atss_gfl_and_fcos():
    assert [os.path.relpath(p, ROOT) for p in HEAD_CONFIGS] == [
        'configs/_base_/models/retinanet_r50_fpn.py', 'configs/atss/atss_r50_fpn_1x_coco.py',
        'configs/gfl/gfl_r50_fpn_1x_coco.py',
        'configs/fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py']
    assert all(os.path.isfile(p) for p in HEAD_CONFIGS)


def test_heads_mode_times_every_head_on_the_same_batch(tmp_path):
    out = tmp_path / 'heads.json'
    benchmark.main(['--mode', 'heads', '--heads', *(os.path.join(ROOT, p) for p in SMALL),
                    '--size', '64', '64', '--repeats', '1', '--warmup', '0',
                    '--num-classes', '2', '--threads', '1', '--json', str(out)])
    report = json.loads(out.read_text())
    names = ['retinanet_r18_fpn_synthetic', 'atss_r18_fpn_synthetic', 'gfl_r18_fpn_synthetic',
             'fcos_r18_fpn_synthetic']
    assert [k for k in report if not k.startswith('_')] == names
    # 64x64: P3..P7 of 8x8, 4x4, 2x2, 1x1, 1x1 locations; RetinaNet has 9 anchors on each,
    # the others one anchor or point
    assert [report[k]['priors'] for k in names] == [9 * 86, 86, 86, 86]
    assert report[names[0]]['ratio'] == 1.0
    for name in names:
        assert report[name]['loss_part'] > 0
        assert report[name]['ratio'] == report[name]['loss_part'] / report[names[0]]['loss_part']
