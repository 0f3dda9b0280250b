"""Drawing detections (used by DetVisualizationHook and tools/test.py --show-dir)."""
from .det_local_visualizer import DetLocalVisualizer

__all__ = ['DetLocalVisualizer']
