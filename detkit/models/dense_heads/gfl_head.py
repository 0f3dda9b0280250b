"""The GFL head: joint class-quality scores and box sides as distributions."""
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from detkit.models.layers import Integral, Scale
from detkit.models.losses.quality_focal_loss import soft_target_from_labels
from detkit.models.utils.level_maps import flatten_levels
from detkit.registry import MODELS
from detkit.structures import GtBatch
from detkit.structures.bbox import aligned_iou
from .anchor_head import AnchorHead
from .atss_head import HEAD_GN, ONE_SQUARE_ANCHOR, prior_centres
from .dense_targets import DenseTargets


class GFLBoxTargets(NamedTuple):
    """GFL's box-side targets of every anchor, in stride units; ``[B, N, ...]``.

    Attributes:
        pred_boxes: ``[B, N, 4]`` xyxy decoded predictions (with gradient).
        boxes: ``[B, N, 4]`` xyxy matched gt boxes (the anchor's own off the positives).
        sides: ``[B, N, 4]`` the gt's (l, t, r, b) distances, clamped to ``[0, reg_max - 0.1]``.
        quality: ``[B, N]`` IoU of prediction and gt for positives, else 0 (QFL's target).
        weight: ``[B, N]`` the positive's highest class score (detached), else 0.
    """

    pred_boxes: Tensor
    boxes: Tensor
    sides: Tensor
    quality: Tensor
    weight: Tensor


@MODELS.register_module()
class GFLHead(AnchorHead):
    """GFL head (Li et al., "Generalized Focal Loss", NeurIPS 2020).

    ATSS's towers and anchors (one per location), with two changes to what
    is predicted: ``gfl_cls`` (→ ``K``) scores are joint class-and-quality
    scores trained with Quality Focal Loss towards the IoU of the predicted
    box at the gt's class (0 elsewhere), and ``gfl_reg`` (→ ``4·(reg_max+1)``,
    times a learnable per-level ``scales[l]``) gives for each side (left, top,
    right, bottom) logits over the distances ``0 .. reg_max`` in stride units
    from the anchor's centre; the box side is their expectation
    (``integral``). Parameter names follow MMDetection's GFLHead.

    Losses (MMDetection's): QFL over every valid anchor / ``avg_factor``; for
    the positives, GIoU of the decoded boxes (stride units) and the
    Distribution Focal Loss of each side's logits against the gt's
    distance (clamped to ``reg_max - 0.1``), both weighted by the positive's
    highest predicted score (detached) and divided by the sum of those
    weights (at least 1). No score factor at test time.

    The defaults are ``gfl_r50_fpn_1x_coco``'s. The assigner
    (``ATSSAssigner(topk=9)``) comes with ``train_cfg``.

    Args:
        num_classes, in_channels, anchor_generator, bbox_coder, loss_cls,
        loss_bbox, train_cfg, test_cfg: as :class:`AnchorHead`; ``bbox_coder``
            turns distances from the anchor centres into boxes and back.
        stacked_convs, feat_channels, norm_cfg, prior_prob: as :class:`ATSSHead`.
        reg_max: the largest distance bin, in strides.
        loss_dfl: MODELS config of the Distribution Focal Loss.
    """

    def __init__(self, num_classes: int, in_channels: int, stacked_convs: int = 4,
                 feat_channels: int = 256, norm_cfg: Optional[Dict] = HEAD_GN,
                 prior_prob: float = 0.01, reg_max: int = 16,
                 anchor_generator: Dict = ONE_SQUARE_ANCHOR,
                 bbox_coder: Dict = dict(type='DistancePointBBoxCoder'),
                 loss_cls: Dict = dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0,
                                       loss_weight=1.0),
                 loss_bbox: Dict = dict(type='GIoULoss', loss_weight=2.0),
                 loss_dfl: Dict = dict(type='DistributionFocalLoss', loss_weight=0.25),
                 train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        integral = Integral(reg_max)  # checks reg_max before anything is built
        super().__init__(num_classes, in_channels, anchor_generator=anchor_generator,
                         bbox_coder=bbox_coder, loss_cls=loss_cls, loss_bbox=loss_bbox,
                         bbox_channels=4 * (reg_max + 1), train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        if self.num_base_priors != 1:
            raise ValueError(f'GFLHead predicts one box per location: anchor_generator must '
                             f'give 1 anchor per location, got {self.num_base_priors} '
                             f'(use ratios=[1.0] and one scale)')
        self.loss_dfl = MODELS.build(loss_dfl)
        self.reg_max = reg_max
        tower_out = self.add_towers(stacked_convs, feat_channels, norm_cfg, prior_prob)
        self.gfl_cls = nn.Conv2d(tower_out, num_classes, 3, padding=1)
        self.gfl_reg = nn.Conv2d(tower_out, self.bbox_channels, 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in self.prior_generator.strides)
        self.integral = integral

    def init_weights(self) -> None:
        """N(0, 0.01) convs, zero biases, classifier bias from ``prior_prob``."""
        super().init_weights()
        self.init_convs(self.gfl_cls, self.prior_prob)

    def forward_single(self, x: Tensor, level: int) -> Tuple[Tensor, Tensor]:
        """``[B, C, H, W]`` → cls ``[B, K, H, W]``, side logits ``[B, 4·(reg_max+1), H, W]``
        (channel ``side · (reg_max+1) + bin``, scaled by ``scales[level]``)."""
        bbox_pred = self.scales[level](self.gfl_reg(self.reg_convs(x))).float()
        return self.gfl_cls(self.cls_convs(x)), bbox_pred

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     batch_gt_instances: Union[GtBatch, List[InstanceData]],
                     batch_img_metas: Optional[List[dict]] = None,
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None
                     ) -> Dict[str, Tensor]:
        """Quality focal, GIoU and distribution focal losses of the whole batch.

        Args:
            cls_scores: per level ``[B, K, H, W]`` logits.
            bbox_preds: per level ``[B, 4·(reg_max+1), H, W]`` side logits.
            batch_gt_instances, batch_img_metas, batch_gt_instances_ignore:
                as :meth:`AnchorHead.get_targets`.

        Returns:
            ``dict(loss_cls, loss_bbox, loss_dfl)``, scalars (sums over the levels).
        """
        targets = self.get_targets([tuple(s.shape[-2:]) for s in cls_scores],
                                   batch_gt_instances, batch_img_metas,
                                   batch_gt_instances_ignore, device=cls_scores[0].device)
        side_logits = flatten_levels(bbox_preds, self.bbox_channels)  # [B, N, 4·(reg_max+1)]
        box = self.box_targets(cls_scores, side_logits, targets)
        soft_targets = soft_target_from_labels(targets.labels.reshape(-1),
                                               box.quality.reshape(-1), self.num_classes)
        loss_cls = self.classification_loss(
            cls_scores, soft_targets.view(*box.quality.shape, self.num_classes),
            targets.label_weights, targets.avg_factor)
        # MMDetection sums each level's loss (avg_factor 1 for GIoU, 4 for the four sides of
        # DFL) and divides the sums by the batch's total weight
        bbox_avg_factor = box.weight.sum().clamp(min=1)
        loss_bbox = self.loss_bbox(box.pred_boxes.reshape(-1, 4), box.boxes.reshape(-1, 4),
                                   box.weight.reshape(-1), avg_factor=1.0) / bbox_avg_factor
        loss_dfl = self.loss_dfl(side_logits.reshape(-1, self.reg_max + 1),
                                 box.sides.reshape(-1),
                                 box.weight.unsqueeze(-1).expand(-1, -1, 4).reshape(-1),
                                 avg_factor=4.0) / bbox_avg_factor
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_dfl=loss_dfl)

    def box_targets(self, cls_scores: List[Tensor], side_logits: Tensor,
                    targets: DenseTargets) -> GFLBoxTargets:
        """What the box losses and the quality targets compare, for every anchor.

        Args:
            cls_scores: per level ``[B, K, H, W]`` logits (for the weights).
            side_logits: ``[B, N, 4·(reg_max+1)]`` all levels' side logits.
            targets: the anchors' assignment.
        """
        pos = targets.pos_mask.to(side_logits.dtype)  # [B, N]
        centres, boxes = self.stride_units(targets)
        pred_boxes = self.bbox_coder.decode(centres, self.integral(side_logits))
        # each positive weighs its best class score; sigmoid is monotonic, so the max of the
        # logits is taken first
        best_logit = flatten_levels([s.detach().amax(1, keepdim=True) for s in cls_scores], 1)
        return GFLBoxTargets(
            pred_boxes=pred_boxes, boxes=boxes,
            sides=self.bbox_coder.encode(centres, boxes, max_dis=self.reg_max),
            quality=aligned_iou(pred_boxes.detach(), boxes) * pos,
            weight=best_logit.squeeze(-1).sigmoid() * pos)

    def stride_units(self, targets: DenseTargets) -> Tuple[Tensor, Tensor]:
        """Anchor centres ``[N, 2]`` and box targets ``[B, N, 4]`` (xyxy), divided by
        the stride of each anchor's level."""
        strides = torch.cat([targets.priors.new_full((size, 1), stride[0]) for size, stride
                             in zip(targets.level_sizes, self.prior_generator.strides)])
        return prior_centres(targets.priors) / strides, targets.bbox_targets / strides

    def decode_level(self, priors: Tensor, preds: Tensor, level: int,
                     max_shape: Tensor) -> Tensor:
        """Boxes ``[B, k, 4]`` xyxy: the integral of the side logits
        ``preds [B, k, 4·(reg_max+1)]`` times the level's stride, around the centres of
        ``priors [B, k, 4]``, clipped to ``max_shape``."""
        distances = self.integral(preds) * self.prior_generator.strides[level][0]
        return self.bbox_coder.decode(prior_centres(priors), distances, max_shape=max_shape)
