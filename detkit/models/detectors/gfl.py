"""GFL (Li et al., "Generalized Focal Loss", NeurIPS 2020)."""
from detkit.registry import MODELS
from .single_stage import SingleStageDetector


@MODELS.register_module()
class GFL(SingleStageDetector):
    """ResNet + FPN + :class:`~detkit.models.dense_heads.GFLHead`, trained with the
    ``ATSSAssigner``.

    Only the name differs from :class:`SingleStageDetector`: everything a GFL
    detector is lives in its config (``configs/gfl/``).
    """
