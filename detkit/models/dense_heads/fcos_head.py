"""The FCOS head: per-pixel classification, distances to the box sides and centerness."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from detkit.models.layers import Scale
from detkit.models.utils.level_maps import flatten_levels
from detkit.registry import MODELS
from detkit.structures import GtBatch
from detkit.structures.bbox import centerness_target
from .anchor_free_head import AnchorFreeHead
from .dense_targets import DenseTargets

INF = 1e8


def per_point(values: Sequence, level_sizes: Sequence[int], dtype: torch.dtype,
              device: torch.device) -> Tensor:
    """``[N, ...]``: ``values[l]`` once for each of the ``level_sizes[l]`` points of level ``l``.

    Built on the host from Python numbers and copied over: no device read-back.
    """
    table = torch.tensor(values, dtype=dtype)
    return table.repeat_interleave(torch.tensor(level_sizes), dim=0).to(device)


@MODELS.register_module()
class FCOSHead(AnchorFreeHead):
    """FCOS head (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", 2019).

    :class:`AnchorFreeHead`'s towers, plus ``conv_centerness`` (3×3 → 1, on
    the classification tower, or the box tower with ``centerness_on_reg``)
    and one learnable ``scales[l]`` per level on the box output. MMDetection's
    ``FCOSHead`` names, defaults and targets:

    * A point is a candidate for a gt if it lies strictly inside it (a point
      on an edge is outside) — or, with ``center_sampling``, strictly inside
      the gt's centre region, a square of ``stride * center_sample_radius``
      around the gt's centre cut to the gt — and the largest of its four
      distances is within its level's ``regress_ranges`` (both ends
      inclusive). Among its candidates a point takes the gt of smallest area.
    * ``loss_cls`` over all points, ``loss_centerness`` (BCE) over the
      positives, both divided by ``max(#positives in the batch, 1)``;
      ``loss_bbox`` (IoU of the decoded boxes) weighted by the centerness
      targets and divided by their sum.
    * Box outputs are distances ``(l, t, r, b)``: ``exp(scale · conv_reg)``
      pixels, or with ``norm_on_bbox`` ``relu(scale · conv_reg)`` in units of
      the level's stride (in training and inference alike: prediction
      multiplies them by the stride, where MMDetection's forward does it in
      eval mode). Detection scores are ``sigmoid(cls) · sigmoid(centerness)``.

    Ignore regions (``batch_gt_instances_ignore``) are not used, as in
    MMDetection's FCOS.

    Args:
        num_classes, in_channels, feat_channels, stacked_convs, strides,
        dcn_on_last_conv, conv_bias, bbox_coder, norm_cfg, prior_prob,
        train_cfg, test_cfg: as :class:`AnchorFreeHead` (``train_cfg`` takes no
        assigner).
        regress_ranges: per level ``(lo, hi)`` pixels of the largest distance
            of the level's positives.
        center_sampling: positives only in the gts' centre regions.
        center_sample_radius: half-size of a centre region, in strides.
        norm_on_bbox: distances in strides with ReLU instead of ``exp``.
        centerness_on_reg: centerness from the box tower.
        loss_cls, loss_bbox, loss_centerness: MODELS configs (``loss_bbox``
            takes decoded xyxy boxes; ``loss_centerness`` sigmoid BCE).
    """

    def __init__(self, num_classes: int, in_channels: int, feat_channels: int = 256,
                 stacked_convs: int = 4, strides: Sequence[int] = (4, 8, 16, 32, 64),
                 regress_ranges: Sequence[Tuple[float, float]] = (
                     (-1, 64), (64, 128), (128, 256), (256, 512), (512, INF)),
                 center_sampling: bool = False, center_sample_radius: float = 1.5,
                 norm_on_bbox: bool = False, centerness_on_reg: bool = False,
                 dcn_on_last_conv: bool = False, conv_bias: Union[str, bool] = 'auto',
                 loss_cls: Dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, loss_weight=1.0),
                 loss_bbox: Dict = dict(type='IoULoss', loss_weight=1.0),
                 loss_centerness: Dict = dict(type='CrossEntropyLoss', use_sigmoid=True,
                                              loss_weight=1.0),
                 bbox_coder: Dict = dict(type='DistancePointBBoxCoder'),
                 norm_cfg: Optional[Dict] = dict(type='GN', num_groups=32, requires_grad=True),
                 prior_prob: float = 0.01, train_cfg: Optional[Dict] = None,
                 test_cfg: Optional[Dict] = None, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(num_classes, in_channels, feat_channels=feat_channels,
                         stacked_convs=stacked_convs, strides=strides,
                         dcn_on_last_conv=dcn_on_last_conv, conv_bias=conv_bias,
                         loss_cls=loss_cls, loss_bbox=loss_bbox, bbox_coder=bbox_coder,
                         norm_cfg=norm_cfg, prior_prob=prior_prob, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        self._check_targets_cfg(regress_ranges, center_sample_radius)
        self.regress_ranges = [tuple(float(v) for v in r) for r in regress_ranges]
        self.center_sampling = center_sampling
        self.center_sample_radius = center_sample_radius
        self.norm_on_bbox = norm_on_bbox
        self.centerness_on_reg = centerness_on_reg
        self.loss_centerness = MODELS.build(loss_centerness)
        self.conv_centerness = nn.Conv2d(self.tower_channels, 1, 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in self.strides)

    def _check_targets_cfg(self, regress_ranges: Sequence, center_sample_radius: float) -> None:
        if self.assigner is not None:
            raise ValueError('FCOSHead assigns points by regress_ranges and center sampling and '
                             'uses no train_cfg.assigner; remove it from train_cfg')
        if len(regress_ranges) != len(self.strides):
            raise ValueError(f'FCOSHead: regress_ranges has {len(regress_ranges)} ranges but '
                             f'strides has {len(self.strides)} levels {self.strides}; give one '
                             f'(lo, hi) per level')
        for lo_hi in regress_ranges:
            if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
                raise ValueError(f'FCOSHead: every regress range must be (lo, hi) with lo < hi, '
                                 f'got {tuple(lo_hi)}')
        if not center_sample_radius > 0:
            raise ValueError(f'FCOSHead: center_sample_radius must be > 0, got '
                             f'{center_sample_radius}')

    # ------------------------------------------------------------------ forward
    def forward_single(self, x: Tensor, level: int) -> Tuple[Tensor, Tensor, Tensor]:
        """``[B, C, H, W]`` → cls logits ``[B, K, H, W]``, distances ``[B, 4, H, W]``
        (pixels, or strides with ``norm_on_bbox``), centerness logits ``[B, 1, H, W]``."""
        cls_score, bbox_pred, cls_feat, reg_feat = self.tower_outputs(x)
        centerness = self.conv_centerness(reg_feat if self.centerness_on_reg else cls_feat)
        # float: exp of a half-precision output overflows at 11
        bbox_pred = self.scales[level](bbox_pred).float()
        bbox_pred = bbox_pred.clamp(min=0) if self.norm_on_bbox else bbox_pred.exp()
        return cls_score, bbox_pred, centerness

    def decode_level(self, priors: Tensor, preds: Tensor, level: int,
                     max_shape: Tensor) -> Tensor:
        """Boxes ``[B, k, 4]`` xyxy from points ``[B, k, 2]`` and distances ``[B, k, 4]``."""
        if self.norm_on_bbox:
            preds = preds * self.strides[level]
        return super().decode_level(priors, preds, level, max_shape)

    # ----------------------------------------------------------------- training
    def get_targets(self, featmap_sizes: Sequence[Tuple[int, int]],
                    batch_gt_instances: Union[GtBatch, List[InstanceData]],
                    batch_img_metas: Optional[List[dict]] = None,
                    device: torch.device = torch.device('cpu'),
                    dtype: torch.dtype = torch.float32) -> DenseTargets:
        """FCOS's targets of every point of every image, in fixed shapes.

        All point-gt pairs of the batch are compared at once (``[B, N, G]``).

        Args:
            featmap_sizes: per level ``(H, W)``.
            batch_gt_instances: a :class:`GtBatch`, or per image ``bboxes
                [G_i, 4]`` xyxy and ``labels [G_i]``.
            batch_img_metas: per image dict with ``pad_shape`` (only to pad
                the gts; FCOS has no invalid points).

        Returns:
            :class:`DenseTargets` with ``priors [N, 2]`` points,
            ``bbox_targets [B, N, 4]`` the matched gt boxes (xyxy; the
            degenerate box of the point itself for negatives) and
            ``avg_factor = max(#positives in the batch, 1)``.
        """
        gts = GtBatch.of(batch_gt_instances, batch_img_metas, device=device)
        points = self.prior_generator.grid_priors(featmap_sizes, dtype=dtype, device=device)
        level_sizes = [len(p) for p in points]
        points = torch.cat(points)
        bboxes, labels, valid = gts.bboxes.to(dtype), gts.labels, gts.valid
        if bboxes.size(1) == 0:  # one invalid slot keeps the shapes regular
            bboxes = bboxes.new_zeros(gts.num_imgs, 1, 4)
            labels, valid = labels.new_zeros(gts.num_imgs, 1), valid.new_zeros(gts.num_imgs, 1)
        with torch.no_grad():
            candidate = self.candidates(points, level_sizes, bboxes) & valid.unsqueeze(1)
            areas = ((bboxes[..., 2] - bboxes[..., 0]) * (bboxes[..., 3] - bboxes[..., 1]))
            areas = torch.where(candidate, areas.unsqueeze(1), INF)  # [B, N, G]
            gt_inds = areas.argmin(dim=-1)  # the first of equal areas, as MMDetection
            pos_mask = candidate.any(dim=-1)
            matched = bboxes.gather(1, gt_inds.unsqueeze(-1).expand(-1, -1, 4))
            bbox_targets = torch.where(pos_mask.unsqueeze(-1), matched, points.repeat(1, 2))
            labels = torch.where(pos_mask, labels.gather(1, gt_inds), self.num_classes)
        return DenseTargets(priors=points, level_sizes=level_sizes, labels=labels,
                            label_weights=pos_mask.new_ones(pos_mask.shape, dtype=dtype),
                            pos_mask=pos_mask, gt_inds=gt_inds, bbox_targets=bbox_targets,
                            avg_factor=pos_mask.sum().clamp(min=1).to(dtype))

    def candidates(self, points: Tensor, level_sizes: Sequence[int], bboxes: Tensor) -> Tensor:
        """``[B, N, G]`` bool: point ``n`` may regress gt ``g`` (inside it or its
        centre region, largest distance within the level's range).

        Args:
            points: ``[N, 2]`` (x, y) of all levels.
            level_sizes: points per level.
            bboxes: ``[B, G, 4]`` xyxy gts (padding slots included).
        """
        xs, ys = points[:, 0, None], points[:, 1, None]  # [N, 1]: broadcast against [B, 1, G]
        x1, y1, x2, y2 = bboxes.unsqueeze(1).unbind(-1)
        distances = torch.stack([xs - x1, ys - y1, x2 - xs, y2 - ys], dim=-1)
        if self.center_sampling:
            radius = per_point([s * self.center_sample_radius for s in self.strides],
                               level_sizes, points.dtype, points.device)[:, None]
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            inside = torch.stack([xs - torch.maximum(cx - radius, x1),
                                  ys - torch.maximum(cy - radius, y1),
                                  torch.minimum(cx + radius, x2) - xs,
                                  torch.minimum(cy + radius, y2) - ys], dim=-1).amin(-1) > 0
        else:
            inside = distances.amin(dim=-1) > 0
        ranges = per_point(self.regress_ranges, level_sizes, points.dtype, points.device)
        largest = distances.amax(dim=-1)
        return inside & (largest >= ranges[:, 0, None]) & (largest <= ranges[:, 1, None])

    def distance_targets(self, targets: DenseTargets) -> Tensor:
        """``[B, N, 4]`` distances ``(l, t, r, b)`` from each point to its target
        box, in pixels (or strides with ``norm_on_bbox``); 0 for negatives."""
        distances = self.bbox_coder.encode(targets.priors, targets.bbox_targets)
        if self.norm_on_bbox:
            strides = per_point(self.strides, targets.level_sizes, distances.dtype,
                                distances.device)
            distances = distances / strides[:, None]
        return distances

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     centernesses: List[Tensor],
                     batch_gt_instances: Union[GtBatch, List[InstanceData]],
                     batch_img_metas: Optional[List[dict]] = None,
                     batch_gt_instances_ignore: Optional[List[Optional[InstanceData]]] = None
                     ) -> Dict[str, Tensor]:
        """FCOS's three losses of the whole batch (masks over all points, no host sync).

        Args:
            cls_scores: per level ``[B, K, H, W]`` logits.
            bbox_preds: per level ``[B, 4, H, W]`` distances, as :meth:`forward_single`.
            centernesses: per level ``[B, 1, H, W]`` logits.
            batch_gt_instances, batch_img_metas: as :meth:`get_targets`.
            batch_gt_instances_ignore: not used (MMDetection's FCOS has no ignore regions).

        Returns:
            ``dict(loss_cls, loss_bbox, loss_centerness)``, scalars.
        """
        targets = self.get_targets([tuple(s.shape[-2:]) for s in cls_scores],
                                   batch_gt_instances, batch_img_metas,
                                   device=cls_scores[0].device, dtype=bbox_preds[0].dtype)
        loss_cls = self.classification_loss(cls_scores, targets.labels, targets.label_weights,
                                            targets.avg_factor)
        pos = targets.pos_mask
        distances = self.distance_targets(targets)
        centerness_targets = torch.where(pos, centerness_target(distances), 0)  # [B, N]
        # the negatives' box and centerness outputs are swapped for finite values: MMDetection
        # never reads them, and weight 0 would not stop a NaN there
        preds = torch.where(pos.unsqueeze(-1), flatten_levels(bbox_preds, 4), distances)
        points = targets.priors
        loss_bbox = self.loss_bbox(
            self.bbox_coder.decode(points, preds).reshape(-1, 4),
            self.bbox_coder.decode(points, distances).reshape(-1, 4),
            centerness_targets.reshape(-1),
            avg_factor=centerness_targets.sum().detach().clamp(min=1e-6))
        centerness = torch.where(pos, flatten_levels(centernesses, 1).squeeze(-1), 0)
        loss_centerness = self.loss_centerness(
            centerness.reshape(-1), centerness_targets.reshape(-1),
            pos.reshape(-1).to(centerness_targets.dtype), avg_factor=targets.avg_factor)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_centerness=loss_centerness)
