from .assign_result import AssignResult
from .atss_assigner import ATSSAssigner
from .max_iou_assigner import MaxIoUAssigner

__all__ = ['ATSSAssigner', 'AssignResult', 'MaxIoUAssigner']
