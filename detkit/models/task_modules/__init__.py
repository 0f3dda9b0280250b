"""Prior generation, label assignment and box coding for dense heads."""
from .assigners import ATSSAssigner, AssignResult, MaxIoUAssigner
from .coders import DeltaXYWHBBoxCoder, DistancePointBBoxCoder
from .prior_generators import AnchorGenerator, GridPriorGenerator, MlvlPointGenerator

__all__ = ['ATSSAssigner', 'AnchorGenerator', 'AssignResult', 'DeltaXYWHBBoxCoder',
           'DistancePointBBoxCoder', 'GridPriorGenerator', 'MaxIoUAssigner', 'MlvlPointGenerator']
