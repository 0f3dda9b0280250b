import json
import pickle

KEYS = ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75', 'coco/bbox_mAP_s',
        'coco/bbox_mAP_m', 'coco/bbox_mAP_l', 'coco/bbox_AR@100', 'coco/bbox_AR@300',
        'coco/bbox_AR@1000', 'coco/bbox_AR_s@1000', 'coco/bbox_AR_m@1000',
        'coco/bbox_AR_l@1000']


def test_test_tool_evaluates_a_trained_checkpoint(straight, tmp_path, run_tool, tiny):
    proc = run_tool('test.py', straight / 'with_hooks.py', straight,  # newest checkpoint
                    '--work-dir', tmp_path, '--out', tmp_path / 'res.pkl',
                    '--show-dir', tmp_path / 'show', *tiny(),
                    'test_evaluator.classwise=True',
                    # an untrained model scores low: draw and keep everything
                    'model.test_cfg.score_thr=0.0')
    assert proc.returncode == 0, proc.stderr[-3000:]
    (log,) = tmp_path.glob('*/*.json')
    metrics = json.loads(log.read_text())
    assert [k for k in metrics if k.startswith('coco/')] == KEYS
    assert all(0.0 <= metrics[k] <= 1.0 for k in KEYS)
    assert '| category ' in proc.stdout and '| circle ' in proc.stdout
    results = pickle.loads((tmp_path / 'res.pkl').read_bytes())
    assert len(results) == 8 and len(list((tmp_path / 'show').iterdir())) == 8


def test_mismatched_checkpoint_is_refused_with_the_keys(straight, tmp_path, run_tool, tiny):
    proc = run_tool('test.py', straight / 'with_hooks.py', straight / 'epoch_3.pth',
                    '--work-dir', tmp_path, *tiny(), 'model.bbox_head.feat_channels=16')
    assert proc.returncode == 1
    assert 'does not match the model' in proc.stderr
    assert 'bbox_head.cls_convs.0.conv.weight: checkpoint' in proc.stderr
    assert 'Traceback' not in proc.stderr
