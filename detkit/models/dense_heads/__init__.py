from .anchor_free_head import AnchorFreeHead
from .anchor_head import AnchorHead
from .atss_head import ATSSHead
from .dense_head import DenseHead
from .dense_targets import DenseTargets
from .fcos_head import FCOSHead
from .gfl_head import GFLHead
from .head_cfg import DenseTestCfg, DenseTrainCfg
from .retina_head import RetinaHead

__all__ = ['ATSSHead', 'AnchorFreeHead', 'AnchorHead', 'DenseHead', 'DenseTargets', 'DenseTestCfg',
           'DenseTrainCfg', 'FCOSHead', 'GFLHead', 'RetinaHead']
