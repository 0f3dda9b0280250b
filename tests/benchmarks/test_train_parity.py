"""benchmarks/train_parity.py: the shared metric, the recipe, a 2-iteration run of both sides."""
import json
import os

import numpy as np
import pytest
import torch

from benchmarks import train_parity
from benchmarks.parity_common import (PRESETS, Diverged, Recipe, evaluate, load_split,
                                      lr_factor)


def test_lr_factor_is_mmengine_warmup_then_steps():
    recipe = PRESETS['full']
    assert lr_factor(recipe, 0) == pytest.approx(0.001)
    assert lr_factor(recipe, 199) == pytest.approx(1.0)     # LinearLR(end=200): 199 steps
    assert lr_factor(recipe, 999) == 1.0
    assert lr_factor(recipe, 1000) == pytest.approx(0.1)
    assert lr_factor(recipe, 1300) == pytest.approx(0.01)


def test_scaled_recipe_moves_warmup_and_steps_with_the_iterations():
    recipe = train_parity.scaled_recipe(PRESETS['full'], 150)
    assert (recipe.iters, recipe.warmup, recipe.steps) == (150, 20, (100, 130))
    assert recipe.lr == PRESETS['full'].lr
    # the long CPU preset is the CPU one scaled, so runs made either way merge
    assert train_parity.scaled_recipe(PRESETS['cpu'], 4000) == PRESETS['cpu-long']


def test_summary_is_mean_and_sample_sd_per_framework():
    runs = [dict(name='detkit', mAP=m, mAP50=2 * m) for m in (0.1, 0.2, 0.3)]
    table = train_parity.summary(runs + [dict(name='torchvision', mAP=0.5, mAP50=0.6)])
    assert table['detkit']['mAP'] == pytest.approx((0.2, 0.1))
    assert table['detkit']['mAP50'] == pytest.approx((0.4, 0.2))
    assert table['torchvision']['runs'] == 1
    assert '| detkit | 3 | 0 | 0.200 ± 0.100 | 0.400 ± 0.200 |' in train_parity.format_summary(table)


def test_merge_lists_detkit_variants_apart(tmp_path, capsys):
    recipe = dict(PRESETS['cpu'].__dict__)
    paths = []
    for i, (framework, options, m) in enumerate([('torchvision', {}, 0.2), ('detkit', {}, 0.3),
                                                  ('detkit', {'a.b': True}, 0.1)]):
        run = dict(framework=framework, seed=0, seconds=1.0, mAP=m, mAP50=m, residual_scale=1.0,
                   curve=dict(loss_cls=[1.1, 1.0], loss_bbox=[0.8, 0.7]))
        paths.append(tmp_path / f'{i}.json')
        paths[-1].write_text(json.dumps(dict(recipe=recipe, cfg_options=options, runs=[run])))
    report = train_parity.main(['--merge', *map(str, paths), '--out-dir', str(tmp_path)])
    assert list(report['summary']) == ['torchvision', 'detkit', 'detkit (b=True)']
    assert '| detkit (b=True) | 1 | 0 | 0.100 ± nan |' in capsys.readouterr().out
    paths[0].write_text(json.dumps(dict(recipe=dict(recipe, lr=1.0), cfg_options={}, runs=[])))
    with pytest.raises(ValueError, match='another recipe'):
        train_parity.main(['--merge', *map(str, paths), '--out-dir', str(tmp_path)])


def test_results_are_kept_without_matplotlib(tmp_path, capsys, monkeypatch):
    run = dict(framework='torchvision', seed=0, seconds=1.0, mAP=0.2, mAP50=0.3,
               residual_scale=1.0, curve=dict(loss_cls=[1.1], loss_bbox=[0.8]))
    merged = tmp_path / 'in.json'
    merged.write_text(json.dumps(dict(recipe=dict(PRESETS['cpu'].__dict__), cfg_options={},
                                      runs=[run])))

    def no_matplotlib(*args):
        raise ImportError('the loss-curve plot needs the Python package "matplotlib"')

    monkeypatch.setattr(train_parity, 'plot_curves', no_matplotlib)
    out = tmp_path / 'out'
    train_parity.main(['--merge', str(merged), '--out-dir', str(out)])
    assert json.loads((out / 'results.json').read_text())['runs'][0]['mAP'] == 0.2
    assert 'no loss_curves.png; draw it elsewhere with --merge' in capsys.readouterr().out
    assert not (out / 'loss_curves.png').exists()


def test_ground_truth_as_detections_scores_one(synthetic_root):
    _, val = load_split(str(synthetic_root), 'val')
    detections = [dict(image_id=img['id'], boxes=torch.from_numpy(img['boxes']),
                       scores=torch.ones(len(img['labels'])),
                       labels=torch.from_numpy(img['labels'])) for img in val]
    assert evaluate(str(synthetic_root), detections) == dict(mAP=1.0, mAP50=1.0)
    for det in detections:          # a label off by one scores nothing
        det['labels'] = (det['labels'] + 1) % 5
    assert evaluate(str(synthetic_root), detections)['mAP'] < 0.1


def test_two_iterations_of_both_frameworks(synthetic_root, tmp_path, capsys):
    report = train_parity.main(['--iters', '2', '--seeds', '3', '--threads', '1',
                                '--data-root', str(synthetic_root),
                                '--out-dir', str(tmp_path)])
    runs = report['runs']
    assert [(r['framework'], r['seed']) for r in runs] == [('torchvision', 3), ('detkit', 3)]
    for run in runs:
        assert len(run['curve']['loss_cls']) == len(run['curve']['loss_bbox']) == 2
        assert np.isfinite(run['curve']['loss_cls']).all()
        assert 0 <= run['mAP'] <= run['mAP50'] <= 1
    # both start from the focal-loss prior: about 1.1 per positive
    assert all(0.5 < r['curve']['loss_cls'][0] < 2 for r in runs)
    # both start with live residual branches (the scratch config: zero_init_residual=False)
    assert [round(r['residual_scale'], 2) for r in runs] == [1.0, 1.0]
    out = capsys.readouterr().out
    assert 'torchvision seed 3: mAP' in out and '| detkit | 1 | 0 |' in out
    assert os.path.getsize(tmp_path / 'loss_curves.png') > 10_000
    assert json.loads((tmp_path / 'results.json').read_text())['recipe']['iters'] == 2


def test_a_diverged_run_scores_zero_and_is_counted(synthetic_root, tmp_path, capsys,
                                                    monkeypatch):
    def diverges(recipe, train_images, num_classes, seed):
        raise Diverged(3, dict(loss_cls=[1.1, 1.0], loss_bbox=[0.8, 0.9]))

    monkeypatch.setattr(train_parity.parity_torchvision, 'train', diverges)
    report = train_parity.main(['--iters', '2', '--seeds', '0', '1', '--frameworks',
                                'torchvision', '--data-root', str(synthetic_root),
                                '--out-dir', str(tmp_path)])
    assert [(r['diverged_at'], r['mAP']) for r in report['runs']] == [(3, 0.0), (3, 0.0)]
    assert report['summary']['torchvision']['diverged'] == 2
    out = capsys.readouterr().out
    assert 'torchvision seed 1: diverged (non-finite loss at iteration 3), scored 0' in out
    assert '| torchvision | 2 | 2 | 0.000 ± 0.000 |' in out
    assert os.path.getsize(tmp_path / 'loss_curves.png') > 10_000


def test_detkit_run_stopped_by_the_nonfinite_hook_is_a_divergence(synthetic_root, tmp_path):
    args = train_parity.parse_args(['--data-root', str(synthetic_root), '--out-dir',
                                    str(tmp_path), '--cfg-options',
                                    'optim_wrapper.optimizer.lr=1e30'])
    recipe = train_parity.scaled_recipe(PRESETS['cpu'], 6)
    recipe = Recipe(**{**recipe.__dict__, 'warmup': 1})
    run = train_parity.run_one('detkit', recipe, 0, str(synthetic_root), args)
    assert run['diverged_at'] is not None and 1 < run['diverged_at'] <= 6
    assert run['mAP'] == 0 and len(run['curve']['loss_cls']) == run['diverged_at'] - 1


def test_jobs_run_in_worker_processes_and_keep_the_order(synthetic_root, tmp_path, capsys):
    report = train_parity.main(['--iters', '1', '--seeds', '4', '5', '--jobs', '2',
                                '--frameworks', 'detkit', '--data-root', str(synthetic_root),
                                '--out-dir', str(tmp_path)])
    assert [(r['framework'], r['seed']) for r in report['runs']] == [('detkit', 4), ('detkit', 5)]
    out = capsys.readouterr().out
    assert 'detkit seed 4: mAP' in out and 'detkit seed 5: mAP' in out


def test_same_weights_give_the_same_loss_in_both_frameworks(synthetic_root):
    """torchvision's weights loaded into detkit: the losses agree up to the anchor rounding."""
    from benchmarks.parity_same_weights import losses_and_grads
    recipe = Recipe(**{**PRESETS['cpu'].__dict__, 'short': 256, 'long': 256})
    out = losses_and_grads(recipe, str(synthetic_root), seed=0, count=1)
    ours, theirs = out['detkit'], out['torchvision']
    assert ours['loss_cls'] == pytest.approx(theirs['loss_cls'], rel=2e-3)
    assert ours['loss_bbox'] == pytest.approx(theirs['loss_bbox'], rel=5e-2)
    stem, tv_stem = out['grads']['backbone.conv1.weight']
    assert torch.nn.functional.cosine_similarity(stem.flatten(), tv_stem.flatten(), dim=0) > 0.7
