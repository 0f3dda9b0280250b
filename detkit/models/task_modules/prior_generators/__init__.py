from .anchor_generator import AnchorGenerator
from .grid_prior_generator import GridPriorGenerator
from .point_generator import MlvlPointGenerator

__all__ = ['AnchorGenerator', 'GridPriorGenerator', 'MlvlPointGenerator']
