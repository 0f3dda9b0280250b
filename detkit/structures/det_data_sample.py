"""The per-image record that travels from the pipeline to the metric."""
from mmengine.structures import BaseDataElement, InstanceData


class DetDataSample(BaseDataElement):
    """One image's annotations, predictions and meta information.

    Fields (all optional), boxes are ``xyxy`` pixels, float32:

    - ``gt_instances``: ``bboxes [N, 4]``, ``labels [N]`` (int64, 0-based
      contiguous class index).
    - ``ignored_instances``: ``bboxes [M, 4]`` regions that give neither
      positives nor negatives (COCO ``iscrowd=1``, VOC ``difficult``).
    - ``pred_instances``: ``bboxes [D, 4]``, ``scores [D]``, ``labels [D]``.

    Meta information (``metainfo``): ``img_id``, ``img_path``,
    ``ori_shape (H, W)``, ``img_shape (H, W)`` after resizing,
    ``scale_factor (w_scale, h_scale)``, ``flip``, ``flip_direction``,
    ``pad_shape`` and ``batch_input_shape`` (set by the data preprocessor).
    """

    @property
    def gt_instances(self) -> InstanceData:
        return self._gt_instances

    @gt_instances.setter
    def gt_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_gt_instances', dtype=InstanceData)

    @gt_instances.deleter
    def gt_instances(self) -> None:
        del self._gt_instances

    @property
    def ignored_instances(self) -> InstanceData:
        return self._ignored_instances

    @ignored_instances.setter
    def ignored_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_ignored_instances', dtype=InstanceData)

    @ignored_instances.deleter
    def ignored_instances(self) -> None:
        del self._ignored_instances

    @property
    def pred_instances(self) -> InstanceData:
        return self._pred_instances

    @pred_instances.setter
    def pred_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_pred_instances', dtype=InstanceData)

    @pred_instances.deleter
    def pred_instances(self) -> None:
        del self._pred_instances
