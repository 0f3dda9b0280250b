"""Anchor generation, label assignment and box coding for dense heads."""
from .assigners import AssignResult, MaxIoUAssigner
from .coders import DeltaXYWHBBoxCoder
from .prior_generators import AnchorGenerator

__all__ = ['AnchorGenerator', 'AssignResult', 'DeltaXYWHBBoxCoder', 'MaxIoUAssigner']
