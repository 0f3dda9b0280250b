from .conv_module import ConvModule
from .norm import build_activation_layer, build_conv_layer, build_norm_layer

__all__ = ['ConvModule', 'build_activation_layer', 'build_conv_layer', 'build_norm_layer']
