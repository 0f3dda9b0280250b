from .assign_result import AssignResult
from .atss_assigner import ATSSAssigner
from .batch_assigner import BatchAssigner
from .max_iou_assigner import MaxIoUAssigner

__all__ = ['ATSSAssigner', 'AssignResult', 'BatchAssigner', 'MaxIoUAssigner']
