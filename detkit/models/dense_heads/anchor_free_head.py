"""Anchor-free dense heads: one point per feature location, boxes as distances from it."""
from typing import Dict, Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from detkit.models.layers.conv_tower import conv_tower
from .dense_head import DenseHead, prior_bias


class AnchorFreeHead(DenseHead):
    """Base of anchor-free heads (FCOS …), MMDetection's ``AnchorFreeHead``.

    The priors are the centres of the feature locations
    (``MlvlPointGenerator(strides)``, ``((x + 0.5) * stride, (y + 0.5) *
    stride)``), and the box branch predicts distances ``(l, t, r, b)`` from
    them (``DistancePointBBoxCoder``). The layers are a classification and a
    box tower, each ``stacked_convs`` × (3×3 conv ``feat_channels`` [+ norm]
    + ReLU), shared across levels, then ``conv_cls`` (3×3 → ``K``) and
    ``conv_reg`` (3×3 → 4): MMDetection's names (``cls_convs.0.conv``,
    ``conv_cls`` …). Every conv starts as N(0, 0.01) with zero bias and
    ``conv_cls``'s bias as ``-log((1 - p) / p)``, ``p = prior_prob``.

    A subclass defines ``forward_single`` (with :meth:`tower_outputs`) and
    ``loss_by_feat``.

    Args:
        num_classes, in_channels, loss_cls, loss_bbox, train_cfg, test_cfg:
            as :class:`DenseHead`.
        feat_channels: channels of the tower convs.
        stacked_convs: convs per tower.
        strides: stride of every input level, in pixels.
        dcn_on_last_conv: only False (deformable convs are not implemented).
        conv_bias: bias of the tower convs: ``'auto'`` (only without norm) or a bool.
        bbox_coder: TASK_UTILS config of the distance coder.
        norm_cfg: optional norm of the tower convs (e.g. GN).
        prior_prob: initial foreground probability of every point.
    """

    priors_key = 'strides'

    def __init__(self, num_classes: int, in_channels: int, feat_channels: int = 256,
                 stacked_convs: int = 4, strides: Sequence[int] = (4, 8, 16, 32, 64),
                 dcn_on_last_conv: bool = False, conv_bias: Union[str, bool] = 'auto',
                 loss_cls: Dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, loss_weight=1.0),
                 loss_bbox: Dict = dict(type='IoULoss', loss_weight=1.0),
                 bbox_coder: Dict = dict(type='DistancePointBBoxCoder'),
                 norm_cfg: Optional[Dict] = None, prior_prob: float = 0.01,
                 train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(num_classes, in_channels,
                         prior_generator=dict(type='MlvlPointGenerator', strides=strides),
                         bbox_coder=bbox_coder, loss_cls=loss_cls, loss_bbox=loss_bbox,
                         train_cfg=train_cfg, test_cfg=test_cfg, init_cfg=init_cfg)
        name = type(self).__name__
        if dcn_on_last_conv:
            raise NotImplementedError(f'{name}: dcn_on_last_conv=True (a deformable last tower '
                                      f'conv) is not implemented; use False')
        if conv_bias != 'auto' and not isinstance(conv_bias, bool):
            raise ValueError(f"{name}: conv_bias must be 'auto' or a bool, got {conv_bias!r}")
        prior_bias(prior_prob, name)  # checks it now, not at init_weights
        self.strides = list(strides)
        self.feat_channels = feat_channels
        self.stacked_convs = stacked_convs
        self.prior_prob = prior_prob
        self.cls_convs = conv_tower(in_channels, feat_channels, stacked_convs, norm_cfg,
                                    conv_bias)
        self.reg_convs = conv_tower(in_channels, feat_channels, stacked_convs, norm_cfg,
                                    conv_bias)
        # what the prediction convs read: the towers' output, or the input without towers
        self.tower_channels = feat_channels if stacked_convs > 0 else in_channels
        self.conv_cls = nn.Conv2d(self.tower_channels, num_classes, 3, padding=1)
        self.conv_reg = nn.Conv2d(self.tower_channels, 4, 3, padding=1)

    def init_weights(self) -> None:
        """N(0, 0.01) convs, zero biases, ``conv_cls`` bias from ``prior_prob``."""
        super().init_weights()
        self.init_convs(self.conv_cls, self.prior_prob)

    def tower_outputs(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """``[B, C, H, W]`` → cls logits ``[B, K, H, W]``, raw box outputs
        ``[B, 4, H, W]``, and the two towers' features ``[B, feat_channels, H, W]``
        (for extra branches such as centerness)."""
        cls_feat = self.cls_convs(x)
        reg_feat = self.reg_convs(x)
        return self.conv_cls(cls_feat), self.conv_reg(reg_feat), cls_feat, reg_feat
