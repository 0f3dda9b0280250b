"""Training and testing machinery on top of mmengine's Runner.

Importing this package registers detkit's hooks and optimizer wrappers and,
through :mod:`detkit.engine.checkpoint`, installs safe checkpoint loading
(``weights_only=True`` with an allow-list) and atomic checkpoint writing
into mmengine; :mod:`detkit.engine.checkpoint_sources` adds cached, verified
downloads for ``torchvision://``, ``open-mmlab://`` and URL checkpoints.
"""
from .checkpoint import (AtomicLocalBackend, CorruptCheckpointError, UnsafeCheckpointError,
                         find_latest_complete_checkpoint, is_complete_checkpoint,
                         load_from_local_safe, set_unsafe_load, state_dict_mismatch)
from .checkpoint_sources import (CheckpointSourceError, load_from_source,
                                 resolve_checkpoint)
from .cuda_graph_loop import CudaGraphEpochBasedTrainLoop
from .dist import init_cpu_distributed
from .graph_train_step import GraphTrainStep
from .hooks import (CheckpointMatchHook, CheckpointMismatchError, DetVisualizationHook,
                    EpochSeedHook, NonFiniteLossError, NonFiniteLossHook, ProgressBarHook)
from .optim_wrappers import CPUAmpOptimWrapper, GuardedAmpOptimWrapper, GuardedOptimWrapper

__all__ = [
    'AtomicLocalBackend', 'CPUAmpOptimWrapper', 'CheckpointMatchHook',
    'CheckpointMismatchError', 'CheckpointSourceError', 'CorruptCheckpointError',
    'CudaGraphEpochBasedTrainLoop', 'GraphTrainStep',
    'DetVisualizationHook', 'EpochSeedHook',
    'GuardedAmpOptimWrapper', 'GuardedOptimWrapper', 'NonFiniteLossError',
    'NonFiniteLossHook', 'ProgressBarHook', 'UnsafeCheckpointError',
    'find_latest_complete_checkpoint', 'init_cpu_distributed', 'is_complete_checkpoint',
    'load_from_local_safe', 'load_from_source', 'resolve_checkpoint', 'set_unsafe_load',
    'state_dict_mismatch'
]
