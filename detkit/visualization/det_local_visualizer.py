"""Draw ground-truth and predicted boxes on an image, save or show it."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.structures import InstanceData
from mmengine.visualization import Visualizer

from detkit.registry import VISUALIZERS

Color = Tuple[int, int, int]


def _fallback_palette(num: int) -> List[Color]:
    rng = np.random.default_rng(0)
    return [tuple(int(c) for c in rng.integers(64, 256, 3)) for _ in range(num)]


@VISUALIZERS.register_module()
class DetLocalVisualizer(Visualizer):
    """Draws detections with OpenCV; saves through mmengine's vis backends.

    :meth:`add_datasample` puts the ground truth (left) next to the
    predictions above a score threshold (right), each box labelled with its
    class name (and score), coloured by class from ``dataset_meta['palette']``.

    Args:
        name: the instance name (mmengine keeps one visualizer per name).
        vis_backends: e.g. ``[dict(type='LocalVisBackend')]``; images go to
            ``<save_dir>/vis_data/vis_image/<name>_<step>.png``.
        save_dir: where the backends write (the Runner sets the log dir).
        gt_color: RGB colour of ground-truth boxes; ``None`` colours by class.
        line_width: box line width in pixels, for a 640-px image (scaled).
    """

    def __init__(self, name: str = 'visualizer', image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[Dict]] = None, save_dir: Optional[str] = None,
                 gt_color: Optional[Color] = (0, 200, 0), line_width: int = 2) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends,
                         save_dir=save_dir)
        self.gt_color = gt_color
        self.line_width = line_width

    def _class_style(self, label: int) -> Tuple[str, Color]:
        meta = self.dataset_meta or {}
        classes = meta.get('classes') or ()
        palette = meta.get('palette') or _fallback_palette(max(len(classes), label + 1))
        name = classes[label] if label < len(classes) else f'class {label}'
        return name, tuple(int(c) for c in palette[label % len(palette)])

    def draw_instances(self, image: np.ndarray, instances: InstanceData,
                       score_thr: float = 0.0, color: Optional[Color] = None) -> np.ndarray:
        """Return a copy of RGB ``image [H, W, 3]`` with ``instances`` drawn.

        ``instances.bboxes [N, 4]`` are xyxy pixels of ``image``; ``labels
        [N]``; optional ``scores [N]``, boxes below ``score_thr`` are left out.
        """
        canvas = np.ascontiguousarray(image.copy())
        if 'bboxes' not in instances or len(instances) == 0:
            return canvas
        h, w = canvas.shape[:2]
        boxes = instances.bboxes.detach().cpu().numpy().reshape(-1, 4)
        labels = instances.labels.detach().cpu().numpy().reshape(-1)
        scores = (instances.scores.detach().cpu().numpy().reshape(-1)
                  if 'scores' in instances else None)
        keep = np.ones(len(boxes), bool) if scores is None else scores >= score_thr
        boxes = np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1]).round().astype(int)
        scale = max(h, w) / 640
        thickness = max(1, int(round(self.line_width * scale)))
        font_scale = max(0.35, 0.5 * scale)
        for i in np.flatnonzero(keep):
            name, class_color = self._class_style(int(labels[i]))
            box_color = color or class_color
            x1, y1, x2, y2 = boxes[i]
            cv2.rectangle(canvas, (x1, y1), (x2, y2), box_color, thickness)
            text = name if scores is None else f'{name} {scores[i]:.2f}'
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
            cv2.rectangle(canvas, (x1, ty - th - base), (x1 + tw, ty + base // 2),
                          box_color, -1)
            cv2.putText(canvas, text, (x1, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, (255, 255, 255), 1, cv2.LINE_AA)
        return canvas

    def add_datasample(self, name: str, image: np.ndarray, data_sample=None,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3, step: int = 0) -> np.ndarray:
        """Draw one :class:`DetDataSample` on RGB ``image`` (original pixels).

        Saves to ``out_file`` when given, otherwise through the vis backends
        under ``name`` at ``step``; returns the drawn RGB image.
        """
        panels: Sequence[np.ndarray] = []
        if draw_gt and data_sample is not None and 'gt_instances' in data_sample:
            panels.append(self.draw_instances(image, data_sample.gt_instances,
                                              color=self.gt_color))
        if draw_pred and data_sample is not None and 'pred_instances' in data_sample:
            panels.append(self.draw_instances(image, data_sample.pred_instances,
                                              score_thr=pred_score_thr))
        drawn = np.concatenate(panels, axis=1) if panels else image
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
            cv2.imwrite(out_file, drawn[..., ::-1])
        else:
            self.add_image(name, drawn, step)
        return drawn
