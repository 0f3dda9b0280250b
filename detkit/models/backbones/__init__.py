from .resnet import ResNet
from .resnet_blocks import BasicBlock, Bottleneck

__all__ = ['BasicBlock', 'Bottleneck', 'ResNet']
