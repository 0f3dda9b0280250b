from .conv_module import ConvModule
from .integral import Integral
from .norm import build_activation_layer, build_conv_layer, build_norm_layer
from .scale import Scale

__all__ = ['ConvModule', 'Integral', 'Scale', 'build_activation_layer', 'build_conv_layer',
           'build_norm_layer']
