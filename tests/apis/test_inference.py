"""init_detector / inference_detector on the demo model."""
import cv2
import numpy as np
import pytest
import torch

from detkit.apis import inference_detector, init_detector
from detkit.structures import DetDataSample
from .conftest import CLASSES, DEMO


@pytest.fixture(scope='module')
def model(demo_weights):
    return init_detector(DEMO, str(demo_weights), device='cpu',
                         cfg_options={'model.test_cfg.score_thr': 0.0})


def test_init_detector_loads_weights_and_class_names(model, demo_weights):
    saved = torch.load(demo_weights, weights_only=True)['state_dict']
    assert not model.training
    assert model.dataset_meta['classes'] == CLASSES
    assert len(model.dataset_meta['palette']) == len(CLASSES)
    assert torch.equal(model.state_dict()['bbox_head.retina_cls.weight'],
                       saved['bbox_head.retina_cls.weight'])
    assert model.cfg.model.test_cfg.score_thr == 0.0


def test_init_detector_without_checkpoint_takes_names_from_the_dataset():
    model = init_detector(DEMO)
    assert model.dataset_meta['classes'] == CLASSES   # SyntheticCocoDataset.METAINFO


def test_predictions_are_in_original_pixels_with_names(model, image_dir):
    small = cv2.imread(str(image_dir / 'a.jpg'))          # 128 x 96, resized to 256 x 192
    # what the pipeline makes of it, as an image of its own: the same network input
    large = cv2.resize(small, (256, 192), interpolation=cv2.INTER_LINEAR)
    result, reference = inference_detector(model, [small, large])
    assert isinstance(result, DetDataSample)
    assert result.ori_shape == (96, 128) and result.img_shape == (192, 256)
    pred = result.pred_instances
    assert len(pred) == 100                                # max_per_img, nothing filtered
    torch.testing.assert_close(pred.bboxes * 2, reference.pred_instances.bboxes)
    torch.testing.assert_close(pred.scores, reference.pred_instances.scores)
    assert torch.all(pred.scores[:-1] >= pred.scores[1:])
    assert pred.label_names == [CLASSES[i] for i in pred.labels.tolist()]


def test_paths_and_arrays_give_the_same_detections(model, image_dir):
    paths = [str(image_dir / name) for name in ('a.jpg', 'b.jpg', 'c.png')]
    arrays = [cv2.imread(p) for p in paths]
    from_paths = inference_detector(model, paths)
    from_arrays = inference_detector(model, arrays)
    assert [r.img_path for r in from_paths] == paths
    for a, b in zip(from_paths, from_arrays):
        assert a.ori_shape == b.ori_shape
        torch.testing.assert_close(a.pred_instances.bboxes, b.pred_instances.bboxes)


def test_batches_keep_the_order_of_the_images(model, image_dir):
    paths = [str(image_dir / name) for name in ('a.jpg', 'b.jpg', 'c.png')]
    results = inference_detector(model, paths, batch_size=2)
    assert [r.img_path for r in results] == paths
    assert [r.ori_shape for r in results] == [(96, 128), (128, 96), (160, 160)]
    assert [r.img_id for r in results] == [0, 1, 2]


def test_a_grey_array_is_accepted(model):
    grey = np.full((64, 80), 128, np.uint8)
    assert inference_detector(model, grey).ori_shape == (64, 80)


@pytest.mark.parametrize('images, error, message', [
    ([np.zeros((10, 10, 4), np.uint8)], ValueError, 'image 0: an array must be [H, W, 3]'),
    (['missing.jpg'], FileNotFoundError, 'Image file not found: missing.jpg'),
    ([3], TypeError, 'image 0: expected a file path or a numpy array, got int'),
])
def test_bad_images_are_named(model, images, error, message):
    with pytest.raises(error, match=message.replace('[', r'\[').replace(']', r'\]')):
        inference_detector(model, images)


def test_a_checkpoint_of_another_model_lists_the_mismatch(demo_weights):
    with pytest.raises(ValueError, match=r'does not match the model.*'
                       r'bbox_head\.retina_cls\.weight: checkpoint \[45, 64, 3, 3\] vs model'):
        init_detector(DEMO, str(demo_weights),
                      cfg_options={'model.bbox_head.num_classes': 3})


def test_offline_urls_and_unknown_devices_are_refused(demo_weights, tmp_path, monkeypatch):
    monkeypatch.setenv('DETKIT_HOME', str(tmp_path))
    monkeypatch.setenv('DETKIT_OFFLINE', '1')
    with pytest.raises(OSError, match=r'https://example\.com/retinanet\.pth is not downloaded '
                       r'and downloads are switched off \(DETKIT_OFFLINE=1\)'):
        init_detector(DEMO, 'https://example.com/retinanet.pth')
    monkeypatch.delenv('DETKIT_OFFLINE')
    model = init_detector(DEMO, demo_weights.as_uri())          # --weights file:///...
    assert model.dataset_meta['classes'] == CLASSES
    assert len(list((tmp_path / 'checkpoints').glob('*/demo.pth'))) == 1
    with pytest.raises(ValueError, match="device 'gpu' is not a device"):
        init_detector(DEMO, device='gpu')
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='CUDA is not available'):
            init_detector(DEMO, device='cuda')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_gives_the_cpu_detections(model, demo_weights, image_dir):
    on_gpu = init_detector(DEMO, str(demo_weights), device='cuda',
                           cfg_options={'model.test_cfg.score_thr': 0.0})
    ref = inference_detector(model, str(image_dir / 'c.png')).pred_instances
    out = inference_detector(on_gpu, str(image_dir / 'c.png')).pred_instances
    assert out.bboxes.is_cuda
    torch.testing.assert_close(out.scores.cpu()[:10], ref.scores[:10], rtol=0, atol=1e-4)
