"""Loading a backbone's ImageNet weights from a state-dict file (local or downloaded).

Shared by :class:`ResNet` (and its variants) and :class:`TorchvisionBackbone`:
both read torchvision-format files, both drop the classifier, both refuse a
file that does not fit exactly and say which keys are wrong.
"""
import os
from typing import Dict, Sequence, Union

from torch import Tensor, nn

from detkit.engine.checkpoint_sources import load_from_source

_SHOWN = 5  # how many offending keys an error lists


def read_state_dict(path: Union[str, os.PathLike],
                    dropped: Sequence[str] = ()) -> Dict[str, Tensor]:
    """The tensors of a state-dict file, unwrapped, prefixes and classifier removed.

    The file may hold the state dict itself or wrap it in ``'state_dict'``
    or ``'model'``; key prefixes ``module.``/``backbone.`` are stripped; from
    a detector checkpoint only the ``backbone.*`` keys are kept; keys that
    start with one of ``dropped`` (the classifier, e.g. ``'fc.'``) are removed.

    ``path`` may also be ``torchvision://NAME`` or a URL, downloaded once into
    the cache (see :mod:`detkit.engine.checkpoint_sources`).

    Raises:
        FileNotFoundError: a local ``path`` does not exist (no download is tried).
        RuntimeError: the file is not a state dict readable with
            ``weights_only=True``.
    """
    state = load_from_source(os.fspath(path), map_location='cpu')
    for wrapper in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise RuntimeError(f'Checkpoint {os.fspath(path)!r} holds a {type(state).__name__}, '
                           f'not a state dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    if any(k.startswith('backbone.') for k in state):  # a detector checkpoint
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return {k: v for k, v in state.items() if not k.startswith(tuple(dropped))}


def load_exactly(module: nn.Module, state: Dict[str, Tensor], path: Union[str, os.PathLike],
                 description: str) -> None:
    """Load ``state`` into ``module``, refusing anything but an exact fit.

    Missing ``num_batches_tracked`` buffers (old files) are tolerated.

    Raises:
        RuntimeError: the message names the file, ``description`` (what the
            module is), and lists missing, unexpected and shape-mismatched keys.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in own]
    mismatched = [f'{k}: file {list(v.shape)} vs model {list(own[k].shape)}'
                  for k, v in state.items() if k in own and v.shape != own[k].shape]
    if missing or unexpected or mismatched:
        problems = [f'{what} ({len(keys)}): {", ".join(keys[:_SHOWN])}'
                    + (', …' if len(keys) > _SHOWN else '')
                    for what, keys in (('missing keys', missing),
                                       ('unexpected keys', unexpected),
                                       ('shape mismatches', mismatched)) if keys]
        raise RuntimeError(f'Checkpoint {os.fspath(path)!r} does not fit {description}: '
                           + '; '.join(problems))
    module.load_state_dict(state, strict=False)
