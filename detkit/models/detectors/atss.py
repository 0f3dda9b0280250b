"""ATSS (Zhang et al., "Bridging the Gap Between Anchor-based and Anchor-free Detection
via Adaptive Training Sample Selection", CVPR 2020)."""
from detkit.registry import MODELS
from .single_stage import SingleStageDetector


@MODELS.register_module()
class ATSS(SingleStageDetector):
    """ResNet + FPN + :class:`~detkit.models.dense_heads.ATSSHead`, trained with the
    ``ATSSAssigner``.

    Only the name differs from :class:`SingleStageDetector`: everything an
    ATSS detector is lives in its config (``configs/atss/``).
    """
