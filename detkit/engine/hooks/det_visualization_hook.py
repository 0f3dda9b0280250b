"""Save pictures of detections during validation and testing."""
import os.path as osp
from typing import Any, Optional, Sequence

import cv2
import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from detkit.registry import HOOKS


def original_image(data_sample, batch_input=None) -> np.ndarray:
    """The RGB image ``[H, W, 3]`` of ``data_sample`` in original pixels.

    Read from ``img_path``; when that cannot be read, the network input
    (``uint8 [3, h, w]`` BGR, resized) is resized back to ``ori_shape``.
    """
    path = data_sample.metainfo.get('img_path')
    if path and osp.isfile(path):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is not None:
            return img[..., ::-1]
    if batch_input is None:
        raise FileNotFoundError(f'cannot read image {path!r} to draw it')
    h, w = data_sample.metainfo.get('img_shape', batch_input.shape[-2:])
    img = batch_input[:, :h, :w].permute(1, 2, 0).cpu().numpy()
    ori_h, ori_w = data_sample.metainfo.get('ori_shape', (h, w))
    return cv2.resize(img, (int(ori_w), int(ori_h)))[..., ::-1]


def to_original_pixels(data_sample):
    """A copy of ``data_sample`` whose ``gt_instances`` are in original pixels.

    The pipeline resized the gt boxes ``[N, 4]`` (xyxy) with the image by
    ``scale_factor = (w_scale, h_scale)``; divide it out.
    """
    if 'gt_instances' not in data_sample:
        return data_sample
    w_scale, h_scale = data_sample.metainfo.get('scale_factor', (1.0, 1.0))
    sample = data_sample.clone()
    gt = sample.gt_instances.clone()
    gt.bboxes = gt.bboxes / gt.bboxes.new_tensor([w_scale, h_scale, w_scale, h_scale])
    sample.gt_instances = gt
    return sample


@HOOKS.register_module()
class DetVisualizationHook(Hook):
    """Draw ground truth and predictions of a few images at each validation.

    During training the first ``max_images`` validation images (on rank 0)
    are drawn at every evaluation and saved through the visualizer's
    backends (``<work_dir>/<timestamp>/vis_data/vis_image/*.png`` with
    ``LocalVisBackend``), the step being the training iteration, so the
    same images can be compared across epochs. During testing, every image
    is drawn into ``test_out_dir`` when it is set (``tools/test.py
    --show-dir``).

    Pictures are in original pixels, as the predictions (``rescale=True``);
    ground-truth boxes, which detkit's test pipelines resize with the image,
    are mapped back by the sample's ``scale_factor``.

    Args:
        draw: draw during validation at all.
        max_images: images drawn per validation.
        score_thr: predictions below this score are not drawn.
        test_out_dir: folder for the pictures of ``tools/test.py``; ``None``
            draws nothing during testing.
        show: also open a window per picture (needs a display).
        wait_time: seconds a shown window stays open.
    """

    priority = 'NORMAL'

    def __init__(self, draw: bool = True, max_images: int = 4, score_thr: float = 0.3,
                 test_out_dir: Optional[str] = None, show: bool = False,
                 wait_time: float = 0.) -> None:
        self.draw = draw
        self.max_images = max_images
        self.score_thr = score_thr
        self.test_out_dir = test_out_dir
        self.show = show
        self.wait_time = wait_time
        self._drawn = 0

    def before_val_epoch(self, runner) -> None:
        self._drawn = 0

    def _draw(self, runner, sample, batch_input, name: str, **kwargs) -> None:
        runner.visualizer.add_datasample(
            name, original_image(sample, batch_input), to_original_pixels(sample),
            show=self.show, wait_time=self.wait_time, pred_score_thr=self.score_thr,
            **kwargs)

    def after_val_iter(self, runner, batch_idx: int, data_batch: Any = None,
                       outputs: Optional[Sequence] = None) -> None:
        if not self.draw or not is_main_process() or self._drawn >= self.max_images:
            return
        inputs = (data_batch or {}).get('inputs') or [None] * len(outputs)
        for sample, batch_input in zip(outputs, inputs):
            if self._drawn >= self.max_images:
                break
            stem = osp.splitext(osp.basename(sample.metainfo.get('img_path', '')))[0]
            self._draw(runner, sample, batch_input, f'val_{stem or self._drawn}',
                       step=runner.iter)
            self._drawn += 1

    def after_test_iter(self, runner, batch_idx: int, data_batch: Any = None,
                        outputs: Optional[Sequence] = None) -> None:
        if self.test_out_dir is None and not self.show:
            return
        inputs = (data_batch or {}).get('inputs') or [None] * len(outputs)
        for sample, batch_input in zip(outputs, inputs):
            basename = osp.basename(sample.metainfo.get('img_path', '')) \
                or f'{sample.metainfo.get("img_id", batch_idx)}.jpg'
            out_file = osp.join(self.test_out_dir, basename) if self.test_out_dir else None
            self._draw(runner, sample, batch_input, basename, out_file=out_file)
