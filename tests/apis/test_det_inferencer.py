"""DetInferencer and tools/infer.py: pictures and a JSON of the detections."""
import json

import cv2
import numpy as np
import pytest

from detkit.apis import DetInferencer
from detkit.apis.det_inferencer import list_images
from .conftest import CLASSES, DEMO, load_tool


@pytest.fixture(scope='module')
def inferencer(demo_weights):
    return DetInferencer(str(DEMO), str(demo_weights), device='cpu')


def test_folder_in_pictures_and_json_out(inferencer, image_dir, tmp_path):
    out = inferencer(image_dir, batch_size=2, out_dir=tmp_path, score_thr=0.2,
                     return_vis=True)
    names = ['a.png', 'b.png', 'c.png']
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == names
    for name, picture in zip(names, out['visualization']):
        written = cv2.imread(str(tmp_path / 'vis' / name))
        original = cv2.imread(str(image_dir / name.replace('png', 'jpg'))) \
            if name != 'c.png' else cv2.imread(str(image_dir / name))
        assert written.shape == original.shape               # drawn on the original
        np.testing.assert_array_equal(written, picture[..., ::-1])
        assert (written != original).any()                   # something was drawn
    record = json.loads((tmp_path / 'detections.json').read_text())
    assert record['classes'] == list(CLASSES)
    assert [img['vis'] for img in record['images']] == [f'vis/{n}' for n in names]
    for img, pred in zip(record['images'], out['predictions']):
        assert img['scores'] == pred['scores'] and all(s >= 0.2 for s in img['scores'])
        assert len(img['bboxes']) == len(img['labels']) == len(img['label_names'])
        h, w = img['ori_shape']
        assert all(0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h
                   for x1, y1, x2, y2 in img['bboxes'])
        assert img['label_names'] == [CLASSES[i] for i in img['labels']]
    assert sum(len(p['scores']) for p in out['predictions']) > 0


def test_threshold_one_keeps_nothing_and_draws_nothing(inferencer, image_dir):
    out = inferencer(str(image_dir / 'c.png'), score_thr=1.0, return_vis=True)
    assert out['predictions'][0]['bboxes'] == []
    np.testing.assert_array_equal(out['visualization'][0][..., ::-1],
                                  cv2.imread(str(image_dir / 'c.png')))


def test_same_stem_gets_unique_picture_names(inferencer, image_dir, tmp_path):
    out = inferencer([image_dir / 'a.jpg', image_dir / 'a.jpg', np.zeros((32, 32, 3), np.uint8)],
                     out_dir=tmp_path, show_progress=True)
    assert len(out['predictions']) == 3
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == ['a.png', 'a_1.png',
                                                                   'image_2.png']


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='input image not found: .*nope.jpg'):
        list_images([tmp_path / 'nope.jpg'])
    with pytest.raises(ValueError, match='holds no image files'):
        list_images(tmp_path)


def test_infer_tool_writes_pictures_and_json(image_dir, demo_weights, tmp_path, run_script):
    proc = run_script('tools/infer.py', image_dir / 'a.jpg', image_dir / 'c.png', '--config',
                      DEMO, '--weights', demo_weights, '--out-dir', tmp_path,
                      '--score-thr', 0.2, '--batch-size', 2, '--device', 'cpu')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'in 2 images' in proc.stdout
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == ['a.png', 'c.png']
    assert len(json.loads((tmp_path / 'detections.json').read_text())['images']) == 2


@pytest.mark.parametrize('args, message', [
    (['missing.jpg', '--config', DEMO], 'error: input image not found: missing.jpg'),
    (['x.jpg', '--config', 'configs/nope.py'], 'error: config file not found: configs/nope.py'),
    (['x.jpg', '--config', DEMO, '--score-thr', '2'], '--score-thr must be in [0, 1], got 2.0'),
])
def test_infer_tool_errors_name_the_culprit(args, message, capsys):
    infer = load_tool('tools/infer.py')
    try:
        code = infer.run_tool(infer.main, [str(a) for a in args])
    except SystemExit as exit:                    # argparse's errors
        code = exit.code
    assert code != 0
    stderr = capsys.readouterr().err
    assert message in stderr and 'Traceback' not in stderr


def test_infer_tool_help(capsys):
    with pytest.raises(SystemExit) as exit:
        load_tool('tools/infer.py').parse_args(['--help'])
    assert exit.value.code == 0 and '--score-thr' in capsys.readouterr().out
