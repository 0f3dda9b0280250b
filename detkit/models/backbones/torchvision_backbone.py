"""Any torchvision classification model as a detection backbone."""
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torchvision
from torch import Tensor, nn

from detkit.registry import MODELS, close_names
from .base_backbone import BaseBackbone, pretrained_cfgs
from .pretrained_file import load_exactly, read_state_dict

# the classifier end of torchvision's models: never part of the feature trunk
_TAIL = ('avgpool', 'fc', 'classifier', 'head', 'norm', 'permute', 'flatten')
# torchvision.models modules whose models have no pyramid or do not chain their children
_REFUSED = {'vision_transformer': 'a ViT gives one stride-16 token map, not a pyramid',
            'googlenet': 'its forward branches into auxiliary classifiers',
            'inception': 'its forward branches into auxiliary classifiers',
            'maxvit': 'it only takes inputs of a fixed size (multiples of 224 px)'}
_PROBE_HW = (64, 96)  # a non-square probe tells [B, C, H, W] from [B, H, W, C] outputs


@MODELS.register_module()
class TorchvisionBackbone(BaseBackbone):
    """A torchvision classification model cut into stages at strides 4, 8, 16, 32.

    The model's feature trunk (``features``, or its children up to the
    pooling/classifier) is run module by module; stage ``i`` ends at the last
    module whose output has stride ``2^(i+2)``, so ``out_indices`` means
    what it means for :class:`ResNet` (0 = C2 at stride 4 … 3 = C5 at
    stride 32) for every family: ConvNeXt, RegNet, EfficientNet (v1, v2),
    MobileNetV2/V3, Swin (v1, v2; its channels-last maps are permuted),
    ResNet/ResNeXt/Wide-ResNet, DenseNet, ShuffleNetV2, MNASNet, VGG. The
    classifier and the modules after the last returned stage are removed.
    Parameter names are torchvision's under ``model.`` (``model.features.1.0.
    block.0.weight`` …), so torchvision checkpoints load.

    ``out_channels`` / ``out_strides`` give the returned maps' channels and
    strides (the FPN's ``in_channels``); ``stage_channels`` /
    ``stage_strides`` those of every stage.

    Args:
        model_name: a name of ``torchvision.models.list_models()``, e.g.
            ``'convnext_tiny'``, ``'regnet_y_1_6gf'``, ``'swin_t'``.
        weights: ``None`` (random init), or a torchvision weights name of
            that model (``'DEFAULT'``, ``'IMAGENET1K_V1'`` …), which
            torchvision downloads into its cache while building the model.
            ``init_cfg`` Pretrained is the alternative that loads in
            ``init_weights()`` (and takes local files).
        out_indices: stages whose outputs are returned, 0-based.
        frozen_stages: ``-1`` freezes nothing; ``0`` the modules before
            stride 4 (the stem, where a model has one at stride 2); ``k``
            also stages ``0..k-1``: no gradients, eval mode.
        norm_eval: keep every BatchNorm in eval mode in ``train()``
            (LayerNorm models — ConvNeXt, Swin — have none).
        model_kwargs: other keyword arguments of the torchvision builder,
            e.g. ``dict(stochastic_depth_prob=0.2)``.
        init_cfg: ``None`` keeps torchvision's initialisation (or
            ``weights``); ``dict(type='Pretrained', checkpoint=...)`` loads a
            torchvision-format file (classifier and removed modules ignored):
            a local path, ``torchvision://convnext_tiny`` or a URL, downloaded
            once into detkit's cache.

    Shapes: ``[B, 3, H, W]`` → per stage in ``out_indices``
    ``[B, stage_channels[i], ~H / stage_strides[i], ~W / stage_strides[i]]``.
    """

    def __init__(self, model_name: str, weights: Optional[str] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1,
                 norm_eval: bool = True, model_kwargs: Optional[Dict] = None,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if weights is not None and pretrained_cfgs(init_cfg):
            raise ValueError(f'TorchvisionBackbone({model_name!r}) got both weights={weights!r} '
                             f'and a Pretrained init_cfg; give only one source of weights')
        self.model_name = model_name
        self.model = _build(model_name, weights, model_kwargs or {})
        self.norm_eval = norm_eval
        self._trunk = _trunk_names(self.model)
        probe = self._probe()
        self._stage_ends = [max(i for i, (s, _, _) in enumerate(probe) if s == stride)
                            for stride in sorted({s for s, _, _ in probe if s >= 4})]
        self.stage_strides = [probe[i][0] for i in self._stage_ends]
        self.stage_channels = [probe[i][1] for i in self._stage_ends]
        self._channels_last = [probe[i][2] for i in self._stage_ends]
        self._stem_end = max((i for i, (s, _, _) in enumerate(probe) if s < 4), default=-1)
        self.out_indices = self._check_indices(out_indices, frozen_stages)
        self.frozen_stages = frozen_stages
        self._dropped = self._drop_unused()
        # frozen stages and norm_eval hold from construction on, not only after .train()
        self.train(self.training)

    def _probe(self) -> List[Tuple[int, int, bool]]:
        """(stride, channels, channels-last?) of every trunk module's output."""
        h, w = _PROBE_HW
        was_training = self.model.training
        self.model.eval()
        found = []
        try:
            with torch.no_grad():
                x = torch.zeros(1, 3, h, w)
                for name in self._trunk:
                    x = self.model.get_submodule(name)(x)
                    found.append(_stride_and_layout(x, name, self.model_name))
        except (RuntimeError, ValueError) as err:
            raise ValueError(f'TorchvisionBackbone: {self.model_name!r} cannot be run module '
                             f'by module on a {h}x{w} probe ({err}); it is not usable as a '
                             f'backbone') from err
        finally:
            self.model.train(was_training)
        return found

    def _check_indices(self, out_indices: Sequence[int], frozen_stages: int) -> Tuple[int, ...]:
        num = len(self.stage_strides)
        desc = (f'{self.model_name!r} has {num} stages, strides {self.stage_strides}, '
                f'channels {self.stage_channels}')
        if not out_indices or any(not 0 <= i < num for i in out_indices):
            raise ValueError(f'TorchvisionBackbone out_indices {tuple(out_indices)} must be '
                             f'non-empty stage indices in 0..{num - 1}: {desc}')
        if not -1 <= frozen_stages <= num:
            raise ValueError(f'TorchvisionBackbone frozen_stages must be -1..{num}, '
                             f'got {frozen_stages}: {desc}')
        return tuple(sorted(set(out_indices)))

    def _drop_unused(self) -> List[str]:
        """Remove the classifier and the trunk after the last returned stage.

        Returns the removed modules' names (their checkpoint keys are ignored).
        """
        last = self._stage_ends[self.out_indices[-1]]
        roots = {name.split('.')[0] for name in self._trunk}
        dropped = [name for name, _ in self.model.named_children() if name not in roots]
        dropped += self._trunk[last + 1:]
        for name in dropped:
            parent, _, child = name.rpartition('.')
            self.model.get_submodule(parent)._modules.pop(child)
        self._trunk = self._trunk[:last + 1]
        return dropped

    @property
    def out_channels(self) -> List[int]:
        """Channels of each returned feature map, in output order (a neck's in_channels)."""
        return [self.stage_channels[i] for i in self.out_indices]

    @property
    def out_strides(self) -> List[int]:
        """Stride of each returned feature map, in output order."""
        return [self.stage_strides[i] for i in self.out_indices]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """``[B, 3, H, W]`` → the ``[B, C, H', W']`` outputs of the stages in ``out_indices``."""
        wanted = {self._stage_ends[i]: self._channels_last[i] for i in self.out_indices}
        outs = []
        for i, name in enumerate(self._trunk):
            x = self.model.get_submodule(name)(x)
            if i in wanted:
                outs.append(x.permute(0, 3, 1, 2) if wanted[i] else x)
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        """The trunk up to the end of the stem (0) or of stage ``frozen_stages - 1``."""
        if self.frozen_stages < 0:
            return []
        end = self._stem_end if self.frozen_stages == 0 else \
            self._stage_ends[self.frozen_stages - 1]
        return [self.model.get_submodule(name) for name in self._trunk[:end + 1]]

    def _default_init(self) -> None:
        """Keep torchvision's own initialisation (or its ``weights``)."""

    def load_torchvision_checkpoint(self, path: Union[str, os.PathLike]) -> None:
        """Load a torchvision-format file of this model; the removed modules' keys are ignored.

        Raises:
            RuntimeError: the rest of the file does not fit exactly; the
                message lists missing, unexpected and shape-mismatched keys.
        """
        state = read_state_dict(path, dropped=[f'{name}.' for name in self._dropped])
        load_exactly(self.model, state, path, f'torchvision {self.model_name!r}')


def _build(model_name: str, weights: Optional[str], model_kwargs: Dict) -> nn.Module:
    """The torchvision model, with errors that name the culprit."""
    names = torchvision.models.list_models(module=torchvision.models)
    if model_name not in names:
        hint = close_names(str(model_name), names)
        raise KeyError(f'TorchvisionBackbone: {model_name!r} is not a torchvision '
                       f'classification model' + (f'; did you mean {", ".join(hint)}?' if hint
                                                  else f'; choose one of {", ".join(names)}'))
    family = torchvision.models.get_model_builder(model_name).__module__.rsplit('.', 1)[-1]
    if family in _REFUSED:
        raise ValueError(f'TorchvisionBackbone: {model_name!r} ({family}) cannot be a '
                         f'detection backbone: {_REFUSED[family]}')
    if weights is not None:
        known = ['DEFAULT'] + [w.name for w in torchvision.models.get_model_weights(model_name)]
        if weights not in known:
            raise ValueError(f'TorchvisionBackbone: {model_name!r} has no weights {weights!r}; '
                             f'choose one of {", ".join(known)}')
    try:
        model = torchvision.models.get_model(model_name, weights=weights, **model_kwargs)
    except TypeError as err:
        raise TypeError(f'TorchvisionBackbone: model_kwargs {sorted(model_kwargs)} are not all '
                        f'arguments of torchvision {model_name!r} ({err})') from err
    return model


def _trunk_names(model: nn.Module) -> List[str]:
    """Qualified names of the modules that, applied in turn, compute the features.

    ``features`` (or MNASNet's ``layers``) when the model has it, else the
    children before the pooling/classifier; plain ``Sequential`` /
    ``ModuleList`` containers among them are opened one level (RegNet's
    ``trunk_output``, ResNet's ``layer1`` …) so that stages can be told apart.
    """
    for attr in ('features', 'layers'):
        if isinstance(getattr(model, attr, None), nn.Sequential):
            roots = [(attr, getattr(model, attr))]
            break
    else:
        roots = []
        for name, child in model.named_children():
            if name in _TAIL:
                break
            roots.append((name, child))
    names = []
    for name, child in roots:
        if type(child) in (nn.Sequential, nn.ModuleList):
            names += [f'{name}.{sub}' for sub, _ in child.named_children()]
        else:
            names.append(name)
    return names


def _stride_and_layout(x: Tensor, name: str, model_name: str) -> Tuple[int, int, bool]:
    """(stride, channels, channels-last?) of a probe output ``[1, C, h, w]`` or ``[1, h, w, C]``."""
    h, w = _PROBE_HW
    if x.dim() == 4:
        for channels_last, c, fh, fw in ((False, *x.shape[1:]),
                                         (True, x.shape[3], x.shape[1], x.shape[2])):
            if fh > 0 and fw > 0 and abs(math.log2(h / fh) - math.log2(w / fw)) < 0.5:
                return 2 ** round(math.log2(h / fh)), int(c), channels_last
    raise ValueError(f'module {name!r} of {model_name!r} gives a {list(x.shape)} tensor, '
                     f'not a feature map')
