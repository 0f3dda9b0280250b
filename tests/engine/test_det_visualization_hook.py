import cv2
import numpy as np
import torch
from mmengine.structures import InstanceData

from detkit.engine import DetVisualizationHook
from detkit.structures import DetDataSample
from detkit.visualization import DetLocalVisualizer


def _sample(img_path, scale=0.5):
    sample = DetDataSample(metainfo=dict(img_path=str(img_path), img_id=1, ori_shape=(60, 80),
                                         img_shape=(30, 40), scale_factor=(scale, scale)))
    # gt in the network input's pixels (resized with the image), preds in original pixels
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[5., 5., 15., 15.]]),
                                       labels=torch.tensor([0]))
    sample.pred_instances = InstanceData(bboxes=torch.tensor([[40., 10., 70., 50.],
                                                              [1., 1., 5., 5.]]),
                                         scores=torch.tensor([0.9, 0.1]),
                                         labels=torch.tensor([1, 0]))
    return sample


def _visualizer(tmp_path, name):
    vis = DetLocalVisualizer(name=name, vis_backends=[dict(type='LocalVisBackend')],
                             save_dir=str(tmp_path / 'vis'))
    vis.dataset_meta = dict(classes=('circle', 'square'), palette=[(255, 0, 0), (0, 0, 255)])
    return vis


def test_gt_left_predictions_right_low_scores_left_out(tmp_path):
    vis = _visualizer(tmp_path, 'vis_panels')
    image = np.zeros((60, 80, 3), np.uint8)
    sample = _sample(tmp_path / 'none.jpg', scale=1.0)
    drawn = vis.add_datasample('x', image, sample, out_file=str(tmp_path / 'x.png'),
                               pred_score_thr=0.3)
    assert drawn.shape == (60, 160, 3)
    assert tuple(drawn[10, 5]) == (0, 200, 0)  # gt box edge, gt colour
    assert tuple(drawn[30, 80 + 40]) == (0, 0, 255)  # 'square' prediction edge
    assert not drawn[3, 80 + 3].any()  # score 0.1 < 0.3: not drawn
    assert cv2.imread(str(tmp_path / 'x.png')).shape == (60, 160, 3)


class _Runner:
    def __init__(self, visualizer):
        self.visualizer, self.iter = visualizer, 7


def test_hook_saves_a_few_val_images_with_gt_in_original_pixels(tmp_path):
    img_path = tmp_path / 'img.jpg'
    cv2.imwrite(str(img_path), np.zeros((60, 80, 3), np.uint8))
    runner = _Runner(_visualizer(tmp_path, 'vis_hook'))
    hook = DetVisualizationHook(max_images=2)
    hook.before_val_epoch(runner)
    for batch_idx in range(3):
        outputs = [_sample(img_path), _sample(img_path)]
        hook.after_val_iter(runner, batch_idx, dict(inputs=[None, None]), outputs)
    saved = list((tmp_path / 'vis').rglob('*.png'))
    assert [p.name for p in saved] == ['val_img_7.png']  # 2 drawn, same name, one file
    drawn = cv2.imread(str(saved[0]))[..., ::-1]
    assert tuple(drawn[10, 10]) != (0, 0, 0)  # gt 5..15 x 2 -> 10..30


def test_hook_draws_every_test_image_into_show_dir(tmp_path):
    runner = _Runner(_visualizer(tmp_path, 'vis_test'))
    hook = DetVisualizationHook(test_out_dir=str(tmp_path / 'show'))
    batch_input = torch.zeros(3, 30, 40, dtype=torch.uint8)  # the image file is missing
    sample = _sample(tmp_path / 'missing.jpg')
    hook.after_test_iter(runner, 0, dict(inputs=[batch_input]), [sample])
    assert cv2.imread(str(tmp_path / 'show' / 'missing.jpg')).shape == (60, 160, 3)
