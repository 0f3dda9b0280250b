from .atss import ATSS
from .gfl import GFL
from .retinanet import RetinaNet
from .single_stage import SingleStageDetector

__all__ = ['ATSS', 'GFL', 'RetinaNet', 'SingleStageDetector']
