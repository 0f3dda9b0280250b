"""FCOS (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", 2019)."""
from detkit.registry import MODELS
from .single_stage import SingleStageDetector


@MODELS.register_module()
class FCOS(SingleStageDetector):
    """ResNet + FPN + :class:`~detkit.models.dense_heads.FCOSHead`.

    Only the name differs from :class:`SingleStageDetector`: everything an
    FCOS is lives in its config. In ``mode='tensor'`` it returns the head's
    three outputs ``(cls_scores, bbox_preds, centernesses)``.
    """
