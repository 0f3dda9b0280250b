"""Anchor-based dense heads: anchors as priors, assigner targets, box loss on positives."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from detkit.models.utils.level_maps import flatten_levels
from detkit.structures import GtBatch
from .dense_head import DenseHead
from .dense_targets import DenseTargets


class AnchorHead(DenseHead):
    """Base of anchor-based heads (RetinaNet, ATSS, GFL …).

    Adds to :class:`DenseHead` the anchors (``anchor_generator``, cached per
    feature-map size) and their training targets: ``get_targets`` pads the
    gts of the batch to ``[B, G, 4]`` plus a mask and makes one assignment
    call for all images, with the per-level anchor counts. ``loss_by_feat``
    takes the classification loss of every anchor and the box loss of the
    positives (a mask over all anchors: fixed shapes, no host sync), both
    normalised by ``avg_factor = Σ_i max(#pos_i, 1)``.

    Args:
        num_classes, in_channels, bbox_coder, loss_cls, loss_bbox, train_cfg,
        test_cfg, bbox_channels: as :class:`DenseHead`.
        anchor_generator: TASK_UTILS config of the anchor generator.
        reg_decoded_bbox: regress decoded boxes (for IoU-type box losses)
            instead of encoded targets.
    """

    priors_key = 'anchor_generator'

    def __init__(self, num_classes: int, in_channels: int, anchor_generator: Dict,
                 bbox_coder: Dict, loss_cls: Dict, loss_bbox: Dict,
                 reg_decoded_bbox: bool = False, bbox_channels: int = 4,
                 train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(num_classes, in_channels, prior_generator=anchor_generator,
                         bbox_coder=bbox_coder, loss_cls=loss_cls, loss_bbox=loss_bbox,
                         bbox_channels=bbox_channels, train_cfg=train_cfg, test_cfg=test_cfg,
                         init_cfg=init_cfg)
        self.reg_decoded_bbox = reg_decoded_bbox

    def get_targets(self, featmap_sizes: Sequence[Tuple[int, int]],
                    batch_gt_instances: Union[GtBatch, List[InstanceData]],
                    batch_img_metas: Optional[List[dict]] = None,
                    batch_gt_instances_ignore: Optional[List[Optional[InstanceData]]] = None,
                    device: torch.device = torch.device('cpu')) -> DenseTargets:
        """Assign the anchors of every image and turn the assignment into targets.

        Args:
            featmap_sizes: per level ``(H, W)``.
            batch_gt_instances: a :class:`GtBatch`, or per image
                ``bboxes [G_i, 4]`` xyxy and ``labels [G_i]``.
            batch_img_metas: per image dict with ``pad_shape (H, W)`` (not
                needed with a ``GtBatch``).
            batch_gt_instances_ignore: per image ``bboxes [I_i, 4]`` or None
                (not needed with a ``GtBatch``).
        """
        assigner = self.require_assigner()
        gts = GtBatch.of(batch_gt_instances, batch_img_metas, batch_gt_instances_ignore, device)
        anchors = self.prior_generator.grid_priors(featmap_sizes, device=device)
        level_sizes = [len(a) for a in anchors]
        anchors = torch.cat(anchors)
        valid = self.prior_generator.batch_valid_flags(featmap_sizes, gts.pad_shapes,
                                                       device=device)
        with torch.no_grad():
            assigned = assigner.assign(anchors, level_sizes, gts.bboxes, gts.labels, gts.valid,
                                       prior_valid=valid, ignore_bboxes=gts.ignore_bboxes,
                                       ignore_valid=gts.ignore_valid)
        return DenseTargets.from_assignment(assigned, anchors, level_sizes, gts.bboxes,
                                            self.num_classes)

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     batch_gt_instances: Union[GtBatch, List[InstanceData]],
                     batch_img_metas: Optional[List[dict]] = None,
                     batch_gt_instances_ignore: Optional[List[Optional[InstanceData]]] = None
                     ) -> Dict[str, Tensor]:
        """Classification + box loss of the whole batch.

        Args:
            cls_scores: per level ``[B, A*K, H, W]`` logits.
            bbox_preds: per level ``[B, A*4, H, W]`` box outputs.
            batch_gt_instances, batch_img_metas, batch_gt_instances_ignore:
                as :meth:`get_targets`.

        Returns:
            ``dict(loss_cls=scalar, loss_bbox=scalar)``.
        """
        targets = self.get_targets([tuple(s.shape[-2:]) for s in cls_scores],
                                   batch_gt_instances, batch_img_metas,
                                   batch_gt_instances_ignore, device=cls_scores[0].device)
        loss_cls = self.classification_loss(cls_scores, targets.labels, targets.label_weights,
                                            targets.avg_factor)
        return dict(loss_cls=loss_cls, loss_bbox=self.box_loss(bbox_preds, targets))

    def box_loss(self, bbox_preds: List[Tensor], targets: DenseTargets) -> Tensor:
        """``loss_bbox`` of the positives: encoded targets, or decoded boxes if
        ``reg_decoded_bbox``; every other anchor has weight 0."""
        preds = flatten_levels(bbox_preds, self.bbox_channels)  # [B, N, 4]
        weight = targets.pos_mask.to(preds.dtype).reshape(-1)
        if self.reg_decoded_bbox:
            preds = self.bbox_coder.decode(targets.priors, preds)
            box_targets = targets.bbox_targets
        else:
            box_targets = self.bbox_coder.encode(targets.priors, targets.bbox_targets)
        return self.loss_bbox(preds.reshape(-1, 4), box_targets.reshape(-1, 4), weight,
                              avg_factor=targets.avg_factor)
