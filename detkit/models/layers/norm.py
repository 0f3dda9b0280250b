"""torch.nn layers that configs may name, and builders for them."""
from typing import Dict, Optional, Tuple

from torch import nn

from detkit.registry import MODELS, UnknownTypeError, unknown_type_message

# (registered name, class, abbreviation used in parameter names as MMDetection does)
_NORMS = (('BN', nn.BatchNorm2d, 'bn'), ('BN1d', nn.BatchNorm1d, 'bn'),
          ('BN2d', nn.BatchNorm2d, 'bn'), ('BN3d', nn.BatchNorm3d, 'bn'),
          ('SyncBN', nn.SyncBatchNorm, 'bn'), ('GN', nn.GroupNorm, 'gn'),
          ('LN', nn.LayerNorm, 'ln'), ('IN', nn.InstanceNorm2d, 'in'))
_ABBR = {}
for _name, _cls, _abbr in _NORMS:
    MODELS.register_module(name=_name, module=_cls)
    _ABBR[_name] = _abbr
for _cls in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU,
             nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Identity, nn.Conv1d, nn.Conv2d,
             nn.Conv3d, nn.ConvTranspose2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d,
             nn.Dropout):
    MODELS.register_module(module=_cls)
MODELS.register_module(name='Conv', module=nn.Conv2d)
MODELS.register_module(name='Swish', module=nn.SiLU)


def build_norm_layer(cfg: Dict, num_features: int,
                     postfix: str = '') -> Tuple[str, nn.Module]:
    """Build a norm layer from ``cfg`` for ``num_features`` channels.

    Args:
        cfg: e.g. ``dict(type='BN', requires_grad=True)`` or
            ``dict(type='GN', num_groups=32)``.
        num_features: channels of the input.
        postfix: appended to the abbreviation to form the attribute name.

    Returns:
        ``(name, layer)``, name like ``'bn1'`` or ``'gn'``, the names
        MMDetection checkpoints use.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'norm_cfg must be a dict with a "type" key, got {cfg!r}')
    cfg = dict(cfg)
    layer_type = cfg.pop('type')
    requires_grad = cfg.pop('requires_grad', True)
    if layer_type not in _ABBR:
        raise KeyError(f'norm_cfg type "{layer_type}" is not a norm layer; '
                       f'choose one of {sorted(_ABBR)}')
    cfg.setdefault('eps', 1e-5)
    if layer_type == 'GN':
        if 'num_groups' not in cfg:
            raise KeyError('norm_cfg of type "GN" needs num_groups, '
                           'e.g. dict(type="GN", num_groups=32)')
        if num_features % cfg['num_groups'] != 0:
            raise ValueError(f'norm_cfg GN: num_groups={cfg["num_groups"]} does not divide the '
                             f'{num_features} channels of the layer; use a divisor of '
                             f'{num_features}')
        layer = nn.GroupNorm(num_channels=num_features, **cfg)
    else:
        layer = MODELS.get(layer_type)(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return _ABBR[layer_type] + str(postfix), layer


def build_activation_layer(cfg: Optional[Dict]) -> nn.Module:
    """Build an activation from e.g. ``dict(type='ReLU', inplace=True)``."""
    if cfg is None:
        return nn.Identity()
    return MODELS.build(cfg)


def build_conv_layer(cfg: Optional[Dict], *args, **kwargs) -> nn.Module:
    """Build a conv layer; ``cfg=None`` means ``nn.Conv2d``.

    ``args``/``kwargs`` are the layer's constructor arguments
    (``in_channels, out_channels, kernel_size, stride=…``); keys of ``cfg``
    other than ``type`` are added to them.
    """
    if cfg is None:
        return nn.Conv2d(*args, **kwargs)
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'conv_cfg must be None or a dict with a "type" key, got {cfg!r}')
    cfg = dict(cfg)
    layer_type = cfg.pop('type')
    layer_cls = MODELS.get(layer_type)
    if layer_cls is None:
        raise UnknownTypeError(unknown_type_message(layer_type, MODELS))
    return layer_cls(*args, **kwargs, **cfg)
