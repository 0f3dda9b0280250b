from .retinanet import RetinaNet
from .single_stage import SingleStageDetector

__all__ = ['RetinaNet', 'SingleStageDetector']
