"""Using a trained detector: inference on images and checkpoint conversion."""
from .det_inferencer import DetInferencer
from .inference import inference_detector, init_detector
from .model_converters import (clean_checkpoint, convert_torchvision_retinanet,
                               publish_checkpoint)

__all__ = ['DetInferencer', 'clean_checkpoint', 'convert_torchvision_retinanet',
           'inference_detector', 'init_detector', 'publish_checkpoint']
