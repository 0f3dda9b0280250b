"""The ATSS head: GN towers, one square anchor per location, a centerness branch."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from detkit.models.layers import Scale
from detkit.models.utils.level_maps import flatten_levels
from detkit.registry import MODELS
from detkit.structures import GtBatch, xyxy_to_cxcywh
from detkit.structures.bbox import centerness_target
from .anchor_head import AnchorHead
from .dense_targets import DenseTargets

#: ATSS's and GFL's anchors: one square of side ``8 * stride`` per location
ONE_SQUARE_ANCHOR = dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8,
                         scales_per_octave=1, strides=[8, 16, 32, 64, 128])
#: MMDetection's GN for dense-head towers (``ConvModule`` names ``gn.weight``, ``gn.bias``)
HEAD_GN = dict(type='GN', num_groups=32, requires_grad=True)


def prior_centres(priors: Tensor) -> Tensor:
    """Centres ``[..., 2]`` (x, y) of xyxy priors ``[..., 4]``."""
    return xyxy_to_cxcywh(priors)[..., :2]


@MODELS.register_module()
class ATSSHead(AnchorHead):
    """ATSS head (Zhang et al., "Bridging the Gap Between Anchor-based and
    Anchor-free Detection via Adaptive Training Sample Selection", CVPR 2020).

    A classification and a box tower (``stacked_convs`` × 3×3 conv + GN +
    ReLU each, shared across levels), then ``atss_cls`` (→ ``A*K``) on the
    first and ``atss_reg`` (→ ``A*4`` deltas, times a learnable per-level
    ``scales[l]``) and ``atss_centerness`` (→ ``A`` logits) on the second.
    Parameter names follow MMDetection's ATSSHead, so its checkpoints load.

    Losses (MMDetection's): focal loss over every valid anchor / ``avg_factor``;
    for the positives, GIoU between the decoded predictions and their gts
    weighted by the centerness target (how centred the anchor is in its gt)
    and divided by the sum of those weights (at least 1), and the sigmoid
    cross-entropy of the centerness logits against that target /
    ``avg_factor``. At test time the scores are multiplied by
    ``sigmoid(centerness)``.

    The defaults are ``atss_r50_fpn_1x_coco``'s: one anchor of side
    ``8 · stride`` per location, deltas with stds (0.1, 0.1, 0.2, 0.2),
    FocalLoss, GIoULoss × 2 on decoded boxes, sigmoid cross-entropy for the
    centerness. The assigner (``ATSSAssigner(topk=9)``) comes with ``train_cfg``.

    Args:
        num_classes, in_channels, anchor_generator, bbox_coder, loss_cls,
        loss_bbox, reg_decoded_bbox, train_cfg, test_cfg: as :class:`AnchorHead`.
        stacked_convs: convs per tower.
        feat_channels: channels of the tower convs.
        norm_cfg: norm of the tower convs (``None`` for none).
        pred_kernel_size: kernel size of the three prediction convs.
        prior_prob: initial foreground probability (classifier bias).
        loss_centerness: MODELS config of the centerness loss (sigmoid BCE).
    """

    def __init__(self, num_classes: int, in_channels: int, stacked_convs: int = 4,
                 feat_channels: int = 256, norm_cfg: Optional[Dict] = HEAD_GN,
                 pred_kernel_size: int = 3, prior_prob: float = 0.01,
                 anchor_generator: Dict = ONE_SQUARE_ANCHOR,
                 bbox_coder: Dict = dict(type='DeltaXYWHBBoxCoder',
                                         target_means=[.0, .0, .0, .0],
                                         target_stds=[0.1, 0.1, 0.2, 0.2]),
                 loss_cls: Dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, loss_weight=1.0),
                 loss_bbox: Dict = dict(type='GIoULoss', loss_weight=2.0),
                 loss_centerness: Dict = dict(type='CrossEntropyLoss', use_sigmoid=True,
                                              loss_weight=1.0),
                 reg_decoded_bbox: bool = True, train_cfg: Optional[Dict] = None,
                 test_cfg: Optional[Dict] = None, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(num_classes, in_channels, anchor_generator=anchor_generator,
                         bbox_coder=bbox_coder, loss_cls=loss_cls, loss_bbox=loss_bbox,
                         reg_decoded_bbox=reg_decoded_bbox, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        if pred_kernel_size % 2 != 1:
            raise ValueError(f'ATSSHead pred_kernel_size must be odd (same-size output), '
                             f'got {pred_kernel_size}')
        self.loss_centerness = MODELS.build(loss_centerness)
        tower_out = self.add_towers(stacked_convs, feat_channels, norm_cfg, prior_prob)
        num_priors = self.num_base_priors
        pad = pred_kernel_size // 2
        self.atss_cls = nn.Conv2d(tower_out, num_priors * num_classes, pred_kernel_size,
                                  padding=pad)
        self.atss_reg = nn.Conv2d(tower_out, num_priors * 4, pred_kernel_size, padding=pad)
        self.atss_centerness = nn.Conv2d(tower_out, num_priors, pred_kernel_size, padding=pad)
        self.scales = nn.ModuleList(Scale(1.0) for _ in self.prior_generator.strides)

    def init_weights(self) -> None:
        """N(0, 0.01) convs, zero biases, classifier bias from ``prior_prob``
        (GN and scales keep 1 and 0, 1.0)."""
        super().init_weights()
        self.init_convs(self.atss_cls, self.prior_prob)

    def forward_single(self, x: Tensor, level: int) -> Tuple[Tensor, Tensor, Tensor]:
        """``[B, C, H, W]`` → cls ``[B, A*K, H, W]``, deltas ``[B, A*4, H, W]``
        (scaled by ``scales[level]``), centerness logits ``[B, A, H, W]``."""
        reg_feat = self.reg_convs(x)
        bbox_pred = self.scales[level](self.atss_reg(reg_feat)).float()
        return self.atss_cls(self.cls_convs(x)), bbox_pred, self.atss_centerness(reg_feat)

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     centernesses: List[Tensor],
                     batch_gt_instances: Union[GtBatch, List[InstanceData]],
                     batch_img_metas: Optional[List[dict]] = None,
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None
                     ) -> Dict[str, Tensor]:
        """Classification, box and centerness losses of the whole batch.

        Args:
            cls_scores: per level ``[B, A*K, H, W]`` logits.
            bbox_preds: per level ``[B, A*4, H, W]`` deltas.
            centernesses: per level ``[B, A, H, W]`` logits.
            batch_gt_instances, batch_img_metas, batch_gt_instances_ignore:
                as :meth:`AnchorHead.get_targets`.

        Returns:
            ``dict(loss_cls, loss_bbox, loss_centerness)``, scalars (sums over the levels).
        """
        targets = self.get_targets([tuple(s.shape[-2:]) for s in cls_scores],
                                   batch_gt_instances, batch_img_metas,
                                   batch_gt_instances_ignore, device=cls_scores[0].device)
        loss_cls = self.classification_loss(cls_scores, targets.labels, targets.label_weights,
                                            targets.avg_factor)
        centerness = self.centerness_targets(targets)  # [B, N], 0 off the positives
        decoded = self.bbox_coder.decode(targets.priors, flatten_levels(bbox_preds, 4))
        # MMDetection sums each level's weighted GIoU (avg_factor 1) and divides the sums
        # by the batch's total centerness weight
        bbox_avg_factor = centerness.sum().clamp(min=1)
        loss_bbox = self.loss_bbox(decoded.reshape(-1, 4), targets.bbox_targets.reshape(-1, 4),
                                   centerness.reshape(-1), avg_factor=1.0) / bbox_avg_factor
        loss_centerness = self.loss_centerness(
            flatten_levels(centernesses, 1).reshape(-1), centerness.reshape(-1),
            targets.pos_mask.reshape(-1).to(centerness.dtype), avg_factor=targets.avg_factor)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_centerness=loss_centerness)

    @staticmethod
    def centerness_targets(targets: DenseTargets) -> Tensor:
        """``[B, N]`` centerness of each positive anchor's centre in its gt box, 0 elsewhere."""
        centres = prior_centres(targets.priors)  # [N, 2]
        distances = torch.cat([centres - targets.bbox_targets[..., :2],
                               targets.bbox_targets[..., 2:] - centres], dim=-1)  # l, t, r, b
        return centerness_target(distances) * targets.pos_mask.to(distances.dtype)
