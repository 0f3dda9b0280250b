"""Training and testing machinery on top of mmengine's Runner.

Importing this package registers detkit's hooks and optimizer wrappers and,
through :mod:`detkit.engine.checkpoint`, installs safe checkpoint loading
(``weights_only=True`` with an allow-list) and atomic checkpoint writing
into mmengine.
"""
from .checkpoint import (AtomicLocalBackend, UnsafeCheckpointError,
                         find_latest_complete_checkpoint, is_complete_checkpoint,
                         load_from_local_safe, set_unsafe_load, state_dict_mismatch)
from .dist import init_cpu_distributed
from .hooks import (CheckpointMatchHook, CheckpointMismatchError, DetVisualizationHook,
                    EpochSeedHook, NonFiniteLossError, NonFiniteLossHook, ProgressBarHook)
from .optim_wrappers import CPUAmpOptimWrapper, GuardedAmpOptimWrapper, GuardedOptimWrapper

__all__ = [
    'AtomicLocalBackend', 'CPUAmpOptimWrapper', 'CheckpointMatchHook',
    'CheckpointMismatchError', 'DetVisualizationHook', 'EpochSeedHook',
    'GuardedAmpOptimWrapper', 'GuardedOptimWrapper', 'NonFiniteLossError',
    'NonFiniteLossHook', 'ProgressBarHook', 'UnsafeCheckpointError',
    'find_latest_complete_checkpoint', 'init_cpu_distributed', 'is_complete_checkpoint',
    'load_from_local_safe', 'set_unsafe_load', 'state_dict_mismatch'
]
