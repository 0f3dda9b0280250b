"""detkit's hooks (all registered in ``detkit.registry.HOOKS``)."""
from .checkpoint_match_hook import CheckpointMatchHook, CheckpointMismatchError
from .det_visualization_hook import DetVisualizationHook
from .epoch_seed_hook import EpochSeedHook
from .logger_hook import LoggerHook
from .loss_collapse_hook import LossCollapseDetector, LossCollapseHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .progress_bar_hook import ProgressBarHook

__all__ = ['CheckpointMatchHook', 'CheckpointMismatchError', 'DetVisualizationHook',
           'EpochSeedHook', 'LoggerHook', 'LossCollapseDetector', 'LossCollapseHook',
           'NonFiniteLossError', 'NonFiniteLossHook', 'ProgressBarHook']
