"""What every detkit backbone does alike: frozen stages, norm_eval, pretrained files."""
import os
from typing import Dict, List, Optional, Union

from mmengine.model import BaseModule, initialize
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class BaseBackbone(BaseModule):
    """Base of :class:`ResNet` and :class:`TorchvisionBackbone`.

    A subclass sets ``frozen_stages`` and ``norm_eval`` and says which modules
    the frozen stages are (:meth:`_frozen_modules`), how it initialises
    itself without a checkpoint (:meth:`_default_init`) and how it loads a
    torchvision-format file (:meth:`load_torchvision_checkpoint`). In
    return: frozen modules stay without gradients and in eval mode, and with
    ``norm_eval`` every BatchNorm stays in eval mode, from construction on
    and through every ``train()``; ``init_cfg`` ``Pretrained`` files are read
    by detkit (``weights_only=True``), other init configs by mmengine.
    """

    frozen_stages: int
    norm_eval: bool

    def _frozen_modules(self) -> List[nn.Module]:
        """The modules that ``frozen_stages`` freezes."""
        raise NotImplementedError

    def _default_init(self) -> None:
        """The initialisation without an init_cfg other than ``Pretrained``."""
        raise NotImplementedError

    def load_torchvision_checkpoint(self, path: Union[str, os.PathLike]) -> None:
        """Load a torchvision-format state-dict file (or checkpoint source)."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        """Stop gradients and put the frozen modules in eval mode."""
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseBackbone':
        """Set train mode, keeping frozen stages and (norm_eval) BN in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """Initialise as ``init_cfg`` says: ``Pretrained`` files last, over the rest."""
        pretrained = pretrained_cfgs(self.init_cfg)
        others = [c for c in _as_list(self.init_cfg) if c not in pretrained]
        if others:
            initialize(self, others)
        else:
            self._default_init()
        for cfg in pretrained:
            if 'checkpoint' not in cfg:
                raise KeyError(f"{type(self).__name__} init_cfg {cfg} needs a 'checkpoint' "
                               f"file path")
            self.load_torchvision_checkpoint(cfg['checkpoint'])
        self._is_init = True


def pretrained_cfgs(init_cfg: Optional[Union[Dict, List[Dict]]]) -> List[Dict]:
    """The ``type='Pretrained'`` entries of an init_cfg."""
    return [c for c in _as_list(init_cfg) if c.get('type') == 'Pretrained']


def _as_list(init_cfg: Optional[Union[Dict, List[Dict]]]) -> List[Dict]:
    return [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg or [])
