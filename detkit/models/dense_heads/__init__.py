from .anchor_head import AnchorHead
from .dense_head import DenseHead
from .dense_targets import DenseTargets
from .head_cfg import DenseTestCfg, DenseTrainCfg
from .retina_head import RetinaHead

__all__ = ['AnchorHead', 'DenseHead', 'DenseTargets', 'DenseTestCfg', 'DenseTrainCfg',
           'RetinaHead']
