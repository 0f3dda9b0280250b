"""The RetinaNet head: two conv towers shared across FPN levels."""
from typing import Dict, Optional, Tuple

from torch import Tensor, nn

from detkit.registry import MODELS
from .anchor_head import AnchorHead


@MODELS.register_module()
class RetinaHead(AnchorHead):
    """RetinaNet head (Lin et al., 2017).

    A classification tower and a box tower, each ``stacked_convs`` × (3×3
    conv ``feat_channels`` + ReLU), shared across levels but not across
    towers, then ``retina_cls`` (3×3 → ``A*K``) and ``retina_reg`` (3×3 →
    ``A*4``). Parameter names follow MMDetection (``cls_convs.0.conv``,
    ``retina_cls`` …). Convs start as N(0, 0.01) with zero bias; the
    classifier's bias is ``-log((1 - p) / p)`` with ``p = prior_prob`` so
    every anchor starts with score ``p``.

    The defaults are RetinaNet's (``retinanet_r50_fpn_1x_coco``): 9 anchors
    per location (3 octave scales × ratios 0.5, 1, 2, base size 4·stride),
    unnormalised deltas, sigmoid focal loss (γ 2, α 0.25) and L1 box loss.

    Args:
        num_classes, in_channels, anchor_generator, bbox_coder, loss_cls,
        loss_bbox, reg_decoded_bbox, train_cfg, test_cfg: as :class:`AnchorHead`.
        stacked_convs: convs per tower.
        feat_channels: channels of the tower convs.
        norm_cfg: optional norm for the tower convs (e.g. GN).
        prior_prob: initial foreground probability.
    """

    def __init__(self, num_classes: int, in_channels: int, stacked_convs: int = 4,
                 feat_channels: int = 256, norm_cfg: Optional[Dict] = None,
                 prior_prob: float = 0.01,
                 anchor_generator: Dict = dict(type='AnchorGenerator', octave_base_scale=4,
                                               scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                               strides=[8, 16, 32, 64, 128]),
                 bbox_coder: Dict = dict(type='DeltaXYWHBBoxCoder',
                                         target_means=[.0, .0, .0, .0],
                                         target_stds=[1.0, 1.0, 1.0, 1.0]),
                 loss_cls: Dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, loss_weight=1.0),
                 loss_bbox: Dict = dict(type='L1Loss', loss_weight=1.0),
                 reg_decoded_bbox: bool = False, train_cfg: Optional[Dict] = None,
                 test_cfg: Optional[Dict] = None, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(num_classes, in_channels, anchor_generator=anchor_generator,
                         bbox_coder=bbox_coder, loss_cls=loss_cls, loss_bbox=loss_bbox,
                         reg_decoded_bbox=reg_decoded_bbox, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        tower_out = self.add_towers(stacked_convs, feat_channels, norm_cfg, prior_prob)
        self.retina_cls = nn.Conv2d(tower_out, self.num_base_priors * num_classes, 3, padding=1)
        self.retina_reg = nn.Conv2d(tower_out, self.num_base_priors * 4, 3, padding=1)

    def init_weights(self) -> None:
        """N(0, 0.01) convs, zero biases, classifier bias from ``prior_prob``."""
        super().init_weights()
        self.init_convs(self.retina_cls, self.prior_prob)

    def forward_single(self, x: Tensor, level: int) -> Tuple[Tensor, Tensor]:
        """``[B, C, H, W]`` → cls ``[B, A*K, H, W]``, box deltas ``[B, A*4, H, W]``
        (the same layers at every level)."""
        return self.retina_cls(self.cls_convs(x)), self.retina_reg(self.reg_convs(x))
