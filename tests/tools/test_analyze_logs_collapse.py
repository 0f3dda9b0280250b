"""analyze_logs plot_curve marks a collapsed classifier (loss_cls back at its initial level)."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'analyze_logs', REPO / 'tools' / 'analysis_tools' / 'analyze_logs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_log(path: Path, loss_cls) -> Path:
    """Training lines logged every 50 iterations with the given loss_cls means."""
    lines = [dict(lr=0.01, loss=v + 0.5, loss_cls=v, time=0.1, epoch=1, iter=50 * (i + 1),
                  step=50 * (i + 1)) for i, v in enumerate(loss_cls)]
    path.write_text('\n'.join(json.dumps(x) for x in lines) + '\n')
    return path


# the issue's log: 1.13 -> 0.74, back to 1.11-1.12, down, back again
ISSUE = [1.13, 1.0, 0.86, 0.74, 0.8, 1.11, 1.12, 0.9, 0.85, 1.12, 1.11]


def test_find_collapses_on_logged_means(tool):
    steps = [50 * (i + 1) for i in range(len(ISSUE))]
    found = tool.find_collapses(steps, ISSUE)
    assert [x for x, _ in found] == [300, 500]
    assert found[0][1]['initial'] == 1.13 and found[0][1]['lowest'] == 0.74
    assert tool.find_collapses(steps, [1.13, 0.9, 0.7, 0.6, 0.65, 0.55]) == []


def test_plot_curve_marks_and_prints_each_collapse(tool, tmp_path, capsys):
    log = write_log(tmp_path / 'collapse.json', ISSUE)
    out = tmp_path / 'curves.png'
    code = tool.run_tool(tool.main, ['plot_curve', str(log), '--keys', 'loss_cls',
                                     '--legend', 'scratch', '--out', str(out)])
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == [
        'scratch: loss_cls back at its initial level at iteration 300: 1.1100 (initial 1.1300, '
        'lowest 0.7400) - a collapsed classifier',
        'scratch: loss_cls back at its initial level at iteration 500: 1.1200 (initial 1.1300, '
        'lowest 0.8500) - a collapsed classifier']
    image = cv2.imread(str(out))
    red = (image[..., 2] > 200) & (image[..., 1] < 80) & (image[..., 0] < 80)
    assert red.sum() > 100                      # the two dotted lines and crosses

    plain = tmp_path / 'plain.png'
    assert tool.run_tool(tool.main, ['plot_curve', str(log), '--keys', 'loss_cls',
                                     '--collapse-key', '', '--out', str(plain)]) == 0
    plain_image = cv2.imread(str(plain))
    assert not ((plain_image[..., 2] > 200) & (plain_image[..., 1] < 80)
                & (plain_image[..., 0] < 80)).any()
    assert np.array_equal(plain_image.shape, image.shape)
