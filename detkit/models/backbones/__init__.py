from .resnet import ResNet
from .resnet_blocks import BasicBlock, Bottleneck
from .resnet_v1d import ResNetV1d
from .resnext import ResNeXt
from .torchvision_backbone import TorchvisionBackbone

__all__ = ['BasicBlock', 'Bottleneck', 'ResNeXt', 'ResNet', 'ResNetV1d', 'TorchvisionBackbone']
