"""RetinaNet (Lin et al., "Focal Loss for Dense Object Detection", 2017)."""
from detkit.registry import MODELS
from .single_stage import SingleStageDetector


@MODELS.register_module()
class RetinaNet(SingleStageDetector):
    """ResNet + FPN + :class:`~detkit.models.dense_heads.RetinaHead`.

    Only the name differs from :class:`SingleStageDetector`: everything a
    RetinaNet is lives in its config.
    """
