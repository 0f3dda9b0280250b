from .anchor_head import AnchorHead
from .atss_head import ATSSHead
from .dense_head import DenseHead
from .dense_targets import DenseTargets
from .gfl_head import GFLHead
from .head_cfg import DenseTestCfg, DenseTrainCfg
from .retina_head import RetinaHead

__all__ = ['ATSSHead', 'AnchorHead', 'DenseHead', 'DenseTargets', 'DenseTestCfg', 'DenseTrainCfg',
           'GFLHead', 'RetinaHead']
