import json

import torch

from detkit.engine import load_from_local_safe
from .runner import RECORD, REPO


def _losses(work_dir):
    (scalars,) = work_dir.glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [row['loss'] for row in rows if 'loss' in row]


def test_loss_goes_down(straight):
    losses = _losses(straight)
    assert len(losses) == 24
    first_epoch, last_epoch = sum(losses[:8]) / 8, sum(losses[-8:]) / 8  # same 16 images
    assert last_epoch < first_epoch - 0.03


def test_custom_hook_from_config_is_called(straight):
    assert torch.load(straight / 'rank0_params.pt')['calls'] == 24


def test_resolved_config_and_checkpoints_are_in_the_work_dir(straight):
    assert (straight / 'with_hooks.py').is_file()
    # the demo keeps the last two checkpoints, and the best one
    assert sorted(p.name for p in straight.glob('*.pth')) == [
        'best_coco_bbox_mAP_epoch_3.pth', 'epoch_2.pth', 'epoch_3.pth']
    assert not list(straight.glob('.*.tmp'))


def test_resume_continues_exactly(straight, tmp_path, run_tool, tiny, hook_config):
    config = hook_config(RECORD)
    first = run_tool('train.py', config, '--work-dir', tmp_path, '--seed', 0,
                     '--deterministic', *tiny(max_epochs=1))
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_tool('train.py', config, '--work-dir', tmp_path, '--resume', '--seed', 0,
                      '--deterministic', *tiny(max_epochs=3))
    assert second.returncode == 0, second.stderr[-3000:]
    assert 'resumed epoch: 1, iter: 8' in second.stdout
    a = load_from_local_safe(str(straight / 'epoch_3.pth'))
    b = load_from_local_safe(str(tmp_path / 'epoch_3.pth'))
    assert a['meta']['iter'] == b['meta']['iter'] == 24
    for name, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][name]), name
    for index, state in a['optimizer']['state'].items():  # momentum / Adam moments
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(b['optimizer']['state'][index][key])), key
    assert a['param_schedulers'] == b['param_schedulers']


def test_missing_coco_is_one_message_not_a_traceback(tmp_path, run_tool):
    proc = run_tool('train.py', REPO / 'configs' / 'retinanet_r50_fpn.py',
                    '--work-dir', tmp_path / 'work', cwd=tmp_path)
    assert proc.returncode == 1
    assert 'COCO annotation file not found' in proc.stderr
    assert 'retinanet_r18_fpn_synthetic.py' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_cuda_graph_without_cuda_trains_eagerly_with_a_notice(tmp_path, run_tool, tiny):
    proc = run_tool('train.py', REPO / 'configs' / 'retinanet_r18_fpn_synthetic.py',
                    '--work-dir', tmp_path, '--cuda-graph', *tiny(max_epochs=1))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'cuda_graph: the model is not on a CUDA device; training eagerly.' in proc.stdout
    assert (tmp_path / 'epoch_1.pth').exists()
