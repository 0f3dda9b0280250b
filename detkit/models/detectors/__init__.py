from .atss import ATSS
from .fcos import FCOS
from .gfl import GFL
from .retinanet import RetinaNet
from .single_stage import SingleStageDetector

__all__ = ['ATSS', 'FCOS', 'GFL', 'RetinaNet', 'SingleStageDetector']
