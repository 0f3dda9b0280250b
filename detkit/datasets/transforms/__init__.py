"""Registered pipeline transforms (MMDetection's vocabulary)."""
from .base import BaseTransform
from .flip import RandomFlip
from .formatting import PackDetInputs
from .loading import CorruptImageError, LoadAnnotations, LoadImageFromFile
from .pad import Pad
from .resize import RandomChoiceResize, RandomResize, Resize

__all__ = ['BaseTransform', 'CorruptImageError', 'LoadAnnotations', 'LoadImageFromFile',
           'Pad', 'PackDetInputs', 'RandomChoiceResize', 'RandomFlip', 'RandomResize',
           'Resize']
