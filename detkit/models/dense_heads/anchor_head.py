"""Shared plumbing of anchor-based dense heads: batched targets, losses, post-processing."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from detkit.registry import MODELS, TASK_UTILS
from .dense_utils import (batched_class_nms, flatten_levels, gather_anchors,
                          keep_top_per_image, pad_boxes_and_labels, pad_ignored_boxes,
                          topk_per_image)


class AnchorHead(BaseModule):
    """Base of anchor-based single-stage heads (RetinaNet …).

    A subclass builds its layers and implements ``forward_single(x)`` for one
    FPN level, returning ``cls_score [B, A*K, H, W]`` and ``bbox_pred
    [B, A*4, H, W]`` (channel ``a*K + k`` and ``a*4 + c``, as MMDetection).
    This class owns everything after that, for the whole batch at once:

    * ``loss_by_feat``: anchors (cached by the generator), one assignment
      call for all images (gts padded to ``[B, G, 4]`` plus a mask), one
      classification and one regression loss call, normalised by
      ``avg_factor = Σ_i max(#pos_i, 1)``.
    * ``predict_by_feat``: per level one top-k over all images, one decode,
      one class- and image-aware NMS for the batch.

    Args:
        num_classes: number of object classes ``K`` (no background class).
        in_channels: channels of every input feature map.
        anchor_generator, bbox_coder: configs of TASK_UTILS components.
        loss_cls, loss_bbox: configs of MODELS losses.
        reg_decoded_bbox: regress decoded boxes (for IoU-type box losses)
            instead of encoded deltas.
        train_cfg: ``assigner`` config (plus MMDetection's ``sampler``,
            ``allowed_border``, ``pos_weight``, ``debug``, accepted and
            checked for the values this head implements).
        test_cfg: ``nms_pre``, ``score_thr``, ``nms=dict(iou_threshold=)``,
            ``max_per_img``, ``min_bbox_size``.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 anchor_generator: Dict = dict(type='AnchorGenerator', octave_base_scale=4,
                                               scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                               strides=[8, 16, 32, 64, 128]),
                 bbox_coder: Dict = dict(type='DeltaXYWHBBoxCoder'),
                 loss_cls: Dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, loss_weight=1.0),
                 loss_bbox: Dict = dict(type='L1Loss', loss_weight=1.0),
                 reg_decoded_bbox: bool = False,
                 train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise TypeError(f'{type(self).__name__}: num_classes must be a positive int, '
                            f'got {num_classes!r} ({type(num_classes).__name__})')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.prior_generator = TASK_UTILS.build(anchor_generator)
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        if not getattr(self.loss_cls, 'use_sigmoid', True):
            raise ValueError(f'{type(self).__name__} classifies with sigmoids; set '
                             f'loss_cls.use_sigmoid=True')
        self.reg_decoded_bbox = reg_decoded_bbox
        self.train_cfg = ConfigDict(train_cfg or {})
        self.test_cfg = ConfigDict(test_cfg or {})
        self.assigner = TASK_UTILS.build(self.train_cfg['assigner']) if train_cfg else None
        self._check_train_cfg()
        self.num_base_priors = self.prior_generator.num_base_priors[0]

    def _check_train_cfg(self) -> None:
        sampler = self.train_cfg.get('sampler', dict(type='PseudoSampler'))
        if sampler.get('type') != 'PseudoSampler':
            raise NotImplementedError(f'{type(self).__name__} uses every anchor (PseudoSampler); '
                                      f'sampler {sampler.get("type")!r} is not implemented')
        if self.train_cfg.get('allowed_border', -1) >= 0:
            raise NotImplementedError('train_cfg.allowed_border >= 0 is not implemented; use -1')
        if self.train_cfg.get('pos_weight', -1) > 0:
            raise NotImplementedError('train_cfg.pos_weight > 0 is not implemented; use -1')

    def forward(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Per-level head outputs for FPN features ``[B, C, H_l, W_l]``."""
        outs = [self.forward_single(x) for x in feats]
        return [o[0] for o in outs], [o[1] for o in outs]

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        raise NotImplementedError

    # ---------------------------------------------------------------- training
    def loss(self, feats: Sequence[Tensor], data_samples: Sequence) -> Dict[str, Tensor]:
        """Losses of one batch from FPN features and samples with ``gt_instances``."""
        cls_scores, bbox_preds = self(feats)
        gts = [s.gt_instances for s in data_samples]
        ignored = [s.ignored_instances if 'ignored_instances' in s else None
                   for s in data_samples]
        return self.loss_by_feat(cls_scores, bbox_preds, gts,
                                 [s.metainfo for s in data_samples], ignored)

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     batch_gt_instances: List[InstanceData], batch_img_metas: List[dict],
                     batch_gt_instances_ignore: Optional[List[Optional[InstanceData]]] = None
                     ) -> Dict[str, Tensor]:
        """Focal + box loss of the whole batch.

        Args:
            cls_scores: per level ``[B, A*K, H, W]`` logits.
            bbox_preds: per level ``[B, A*4, H, W]`` deltas.
            batch_gt_instances: per image ``bboxes [G_i, 4]`` xyxy, ``labels [G_i]``.
            batch_img_metas: per image dict with ``pad_shape (H, W)``.
            batch_gt_instances_ignore: per image ``bboxes [I_i, 4]`` or None.

        Returns:
            ``dict(loss_cls=scalar, loss_bbox=scalar)``.
        """
        if self.assigner is None:
            raise RuntimeError(f'{type(self).__name__} was built without train_cfg; '
                               f'cannot compute losses')
        device = cls_scores[0].device
        featmap_sizes = [tuple(s.shape[-2:]) for s in cls_scores]
        anchors = torch.cat(self.prior_generator.grid_priors(featmap_sizes, device=device))
        valid = self.prior_generator.batch_valid_flags(
            featmap_sizes, [m['pad_shape'] for m in batch_img_metas], device=device)
        gt_bboxes, gt_labels, gt_valid = pad_boxes_and_labels(batch_gt_instances, device)
        ignore_bboxes, ignore_valid = pad_ignored_boxes(batch_gt_instances_ignore,
                                                        len(batch_gt_instances), device)
        with torch.no_grad():
            assigned = self.assigner.assign(anchors, gt_bboxes, gt_labels, gt_valid,
                                            prior_valid=valid, ignore_bboxes=ignore_bboxes,
                                            ignore_valid=ignore_valid)
        pos = assigned.gt_inds > 0
        num_pos = pos.sum(dim=1)
        avg_factor = num_pos.clamp(min=1).sum().item()

        labels = torch.where(pos, assigned.labels, torch.full_like(assigned.labels, self.num_classes))
        label_weights = (assigned.gt_inds >= 0).to(cls_scores[0].dtype)
        loss_cls = self._classification_loss(cls_scores, labels, label_weights, avg_factor)

        img_idx, anchor_idx = pos.nonzero(as_tuple=True)
        pos_anchors = anchors[anchor_idx]
        pos_gts = gt_bboxes[img_idx, assigned.gt_inds[img_idx, anchor_idx] - 1]
        pos_preds = flatten_levels(bbox_preds, 4)[img_idx, anchor_idx]
        if self.reg_decoded_bbox:
            loss_bbox = self.loss_bbox(self.bbox_coder.decode(pos_anchors, pos_preds), pos_gts,
                                       avg_factor=avg_factor)
        else:
            loss_bbox = self.loss_bbox(pos_preds, self.bbox_coder.encode(pos_anchors, pos_gts),
                                       avg_factor=avg_factor)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)

    def _classification_loss(self, cls_scores: List[Tensor], labels: Tensor,
                             label_weights: Tensor, avg_factor: float) -> Tensor:
        """``loss_cls`` of all anchors; ``labels``, ``label_weights`` ``[B, N]`` (level order).

        A loss that is a plain sum over samples (``additive_over_samples``,
        e.g. FocalLoss) is taken level by level on ``[B·H·W·A, K]`` views of
        the maps: with channels-last maps that copies nothing, and the
        gradient lands in each map's own layout. Other losses see the whole
        batch at once, concatenated.
        """
        if getattr(self.loss_cls, 'additive_over_samples', False):
            sizes = [s.shape[-2] * s.shape[-1] * self.num_base_priors for s in cls_scores]
            return sum(self.loss_cls(level.permute(0, 2, 3, 1).reshape(-1, self.num_classes),
                                     level_labels.reshape(-1), level_weights.reshape(-1),
                                     avg_factor=avg_factor)
                       for level, level_labels, level_weights in zip(
                           cls_scores, labels.split(sizes, 1), label_weights.split(sizes, 1)))
        cls_flat = flatten_levels(cls_scores, self.num_classes)
        return self.loss_cls(cls_flat.reshape(-1, self.num_classes), labels.reshape(-1),
                             label_weights.reshape(-1), avg_factor=avg_factor)

    # --------------------------------------------------------------- inference
    def predict(self, feats: Sequence[Tensor], data_samples: Sequence,
                rescale: bool = True) -> List[InstanceData]:
        """Detections per image from FPN features."""
        cls_scores, bbox_preds = self(feats)
        return self.predict_by_feat(cls_scores, bbox_preds,
                                    [s.metainfo for s in data_samples], rescale=rescale)

    def predict_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                        batch_img_metas: List[dict], rescale: bool = False
                        ) -> List[InstanceData]:
        """Score filter, per-level top-k, decode, NMS and top ``max_per_img``.

        Args:
            cls_scores, bbox_preds: per level head outputs, as in ``loss_by_feat``.
            batch_img_metas: per image ``img_shape (H, W)`` and, with
                ``rescale``, ``scale_factor (w_scale, h_scale)``.
            rescale: map boxes back to the original image by ``scale_factor``.

        Returns:
            per image ``InstanceData(bboxes [D, 4] xyxy, scores [D], labels [D])``,
            sorted by descending score.
        """
        cfg = self.test_cfg
        device = cls_scores[0].device
        num_imgs, num_classes = cls_scores[0].shape[0], self.num_classes
        featmap_sizes = [tuple(s.shape[-2:]) for s in cls_scores]
        anchors = self.prior_generator.grid_priors(featmap_sizes, dtype=bbox_preds[0].dtype,
                                                   device=device)
        score_thr = cfg.get('score_thr', 0.0)
        nms_pre = cfg.get('nms_pre', -1)
        img_shapes = torch.tensor([m['img_shape'][:2] for m in batch_img_metas],
                                  dtype=bbox_preds[0].dtype, device=device)
        # the sigmoid is monotonic: rank logits, squash only the k kept, and let the top-k
        # skip logits whose score cannot pass the threshold (with a margin for rounding)
        min_logit = (math.log(score_thr / (1 - score_thr)) - 1e-3 if 0 < score_thr < 1
                     else float('-inf'))
        scores, labels, boxes = [], [], []
        for cls_score, bbox_pred, level_anchors in zip(cls_scores, bbox_preds, anchors):
            top_logits, anchor_idx, top_labels = topk_per_image(cls_score, num_classes, nms_pre,
                                                                min_logit)
            deltas = gather_anchors(bbox_pred, anchor_idx, 4)
            scores.append(top_logits.sigmoid())
            labels.append(top_labels)
            boxes.append(self.bbox_coder.decode(level_anchors[anchor_idx], deltas,
                                                max_shape=img_shapes))
        scores, labels, boxes = torch.cat(scores, 1), torch.cat(labels, 1), torch.cat(boxes, 1)

        if rescale:
            factors = torch.tensor([m['scale_factor'] for m in batch_img_metas],
                                   dtype=boxes.dtype, device=device)
            boxes = boxes / factors.repeat(1, 2).unsqueeze(1)
        keep = scores > score_thr
        min_size = cfg.get('min_bbox_size', -1)
        if min_size >= 0:
            keep &= (boxes[..., 2:] - boxes[..., :2] > min_size).all(-1)
        img_idx = torch.arange(num_imgs, device=device).unsqueeze(1).expand_as(scores)[keep]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        nms_cfg = cfg.get('nms', dict(iou_threshold=0.5))
        kept = batched_class_nms(boxes, scores, img_idx * num_classes + labels,
                                 nms_cfg.get('iou_threshold', 0.5))
        kept = keep_top_per_image(kept, img_idx, cfg.get('max_per_img', -1))
        counts = torch.bincount(img_idx[kept], minlength=num_imgs).tolist()
        return [InstanceData(bboxes=boxes[sel], scores=scores[sel], labels=labels[sel])
                for sel in kept.split(counts)]
