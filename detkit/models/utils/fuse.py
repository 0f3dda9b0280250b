"""Inference-time folding of BatchNorm layers into the convolutions before them."""
import torch
from mmengine.logging import print_log
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _fold(conv: nn.Conv2d, bn: _BatchNorm) -> None:
    """Make ``conv`` compute ``bn(conv(x))`` with BN's running statistics.

    ``w' = w · γ / √(σ² + ε)``, ``b' = (b − μ) · γ / √(σ² + ε) + β``, worked
    out in float64 and rounded once, so the fused layer differs from the
    pair by float32 rounding only. The weight keeps its memory format.
    """
    weight = conv.weight.detach()
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.double() * scale
    if conv.bias is not None:
        shift = shift + conv.bias.detach().double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    fused = (weight.double() * scale.view(-1, *([1] * (weight.dim() - 1)))).to(weight.dtype)
    if weight.is_contiguous(memory_format=torch.channels_last) and weight.dim() == 4:
        fused = fused.contiguous(memory_format=torch.channels_last)
    conv.weight = nn.Parameter(fused, requires_grad=False)
    conv.bias = nn.Parameter(shift.to(weight.dtype), requires_grad=False)


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm into the convolution registered just before it, in place.

    For inference only: the result uses the running statistics, so call it
    on a model in ``eval()`` (or with ``norm_eval``) that will not be trained
    again. Each folded BN becomes ``nn.Identity``; the conv gets a bias.
    A BN is folded only when the module registered right before it is a
    ``nn.Conv2d`` with as many output channels as the BN has features —
    true for ResNet's ``convN``/``bnN`` pairs, ``downsample`` and
    ``ConvModule`` — and it tracks running statistics. Outputs change by
    float32 rounding only (relative differences around 1e-6).

    Returns:
        ``module``, for chaining.
    """
    if module.training:
        print_log('fuse_conv_bn: the model is in training mode; the fused layers use '
                  'the running statistics as in eval()', logger='current')
    _fuse_children(module)
    return module


def _fuse_children(module: nn.Module) -> None:
    previous = None
    for name, child in list(module.named_children()):
        if (isinstance(child, _BatchNorm) and isinstance(previous, nn.Conv2d)
                and child.running_mean is not None
                and previous.out_channels == child.num_features):
            _fold(previous, child)
            setattr(module, name, nn.Identity())
            previous = None
            continue
        _fuse_children(child)
        previous = child
