"""Base of dense (single-stage) heads: per-level forward, batched losses and post-processing."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from detkit.models.layers.conv_tower import conv_tower
from detkit.models.layers.nms import batched_class_nms, split_per_image
from detkit.models.utils.level_maps import gather_priors, topk_per_image
from detkit.registry import MODELS, TASK_UTILS
from detkit.structures import GtBatch
from detkit.utils.host_tensor import host_tensor
from .head_cfg import DenseTestCfg, DenseTrainCfg


def prior_bias(prior_prob: float, owner: str) -> float:
    """The classifier bias ``-log((1 - p) / p)`` that starts every score at ``p = prior_prob``."""
    if not 0 < prior_prob < 1:
        raise ValueError(f'{owner}: prior_prob must be in (0, 1), got {prior_prob}')
    return -math.log((1 - prior_prob) / prior_prob)


class DenseHead(BaseModule):
    """What every dense head shares, for the whole batch at once.

    A subclass builds its layers and defines:

    * ``forward_single(x, level)``: the outputs of one FPN level, any number
      of them, each ``[B, A*C, H, W]`` (``A`` priors per location; channel
      ``a*C + c``, as MMDetection). ``forward`` returns one list per output.
    * ``loss_by_feat(*outputs, batch_gt_instances, batch_img_metas,
      batch_gt_instances_ignore)``: usually ``get_targets`` (a
      :class:`DenseTargets`) followed by the losses of those targets.

    The base class provides the priors (``prior_generator``), the box coder,
    the classification loss taken level by level, and ``predict_by_feat``:
    per level one top-k over all images, one decode, optional score factors
    (centerness, quality), one class- and image-aware NMS for the batch,
    rescaling to the original images.

    Args:
        num_classes: number of object classes ``K`` (no background class).
        in_channels: channels of every input feature map.
        prior_generator: TASK_UTILS config of the prior generator.
        bbox_coder: TASK_UTILS config of the box coder.
        loss_cls: MODELS config of the classification loss (sigmoid-based).
        loss_bbox: MODELS config of the box loss.
        bbox_channels: box-branch channels per prior (4 for deltas or
            distances; GFL's distributions take more).
        train_cfg: see :class:`DenseTrainCfg`.
        test_cfg: see :class:`DenseTestCfg`.
    """

    #: the config key that sets the priors' strides, named in wiring errors
    priors_key = 'prior_generator'

    def __init__(self, num_classes: int, in_channels: int, prior_generator: Dict,
                 bbox_coder: Dict, loss_cls: Dict, loss_bbox: Dict, bbox_channels: int = 4,
                 train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg)
        name = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise TypeError(f'{name}: num_classes must be a positive int, got '
                            f'{num_classes!r} ({type(num_classes).__name__})')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.bbox_channels = bbox_channels
        self.prior_generator = TASK_UTILS.build(prior_generator)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        if not getattr(self.loss_cls, 'use_sigmoid', True):
            raise ValueError(f'{name} classifies with sigmoids; set loss_cls.use_sigmoid=True')
        self.train_cfg = DenseTrainCfg.from_cfg(train_cfg, name)
        self.test_cfg = DenseTestCfg.from_cfg(test_cfg, name)
        self.assigner = (TASK_UTILS.build(self.train_cfg.assigner)
                         if self.train_cfg.assigner is not None else None)

    def add_towers(self, stacked_convs: int, feat_channels: int, norm_cfg: Optional[Dict],
                   prior_prob: float) -> int:
        """Add the classification and box towers ``cls_convs`` and ``reg_convs`` (see
        :func:`conv_tower`, inputs ``in_channels``), keep ``stacked_convs``,
        ``feat_channels`` and ``prior_prob`` (checked now, used by :meth:`init_convs`);
        return the channels of the towers' outputs."""
        prior_bias(prior_prob, type(self).__name__)
        self.stacked_convs = stacked_convs
        self.feat_channels = feat_channels
        self.prior_prob = prior_prob
        self.cls_convs = conv_tower(self.in_channels, feat_channels, stacked_convs, norm_cfg)
        self.reg_convs = conv_tower(self.in_channels, feat_channels, stacked_convs, norm_cfg)
        return feat_channels if stacked_convs > 0 else self.in_channels

    def init_convs(self, classifier: nn.Conv2d, prior_prob: float) -> None:
        """MMDetection's dense-head init: every conv N(0, 0.01) with zero bias,
        then the ``classifier``'s bias from ``prior_prob`` (see :func:`prior_bias`)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.constant_(classifier.bias, prior_bias(prior_prob, type(self).__name__))

    # ------------------------------------------------------------------ forward
    def forward(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], ...]:
        """Per-level outputs for FPN features ``[B, C, H_l, W_l]``: one list per output."""
        outs = [self.forward_single(x, level) for level, x in enumerate(feats)]
        return tuple(list(per_output) for per_output in zip(*outs))

    def forward_single(self, x: Tensor, level: int) -> Tuple[Tensor, ...]:
        raise NotImplementedError

    # ----------------------------------------------------------------- training
    def loss(self, feats: Sequence[Tensor], data_samples: Sequence) -> Dict[str, Tensor]:
        """Losses of one batch from FPN features and samples with ``gt_instances``.

        The gts are padded into one :class:`GtBatch` here, so ``loss_by_feat``
        gets fixed-shape tensors (it also accepts per-image lists, for direct
        calls).
        """
        outs = self(feats)
        ignored = [s.ignored_instances if 'ignored_instances' in s else None
                   for s in data_samples]
        gts = GtBatch.from_instances([s.gt_instances for s in data_samples],
                                     [s.metainfo for s in data_samples], ignored,
                                     device=feats[0].device)
        return self.loss_by_feat(*outs, gts)

    def require_assigner(self):
        """The assigner, or an error saying that losses need ``train_cfg``."""
        if self.assigner is None:
            raise RuntimeError(f'{type(self).__name__} was built without train_cfg.assigner; '
                               f'cannot compute losses')
        return self.assigner

    def classification_loss(self, cls_scores: List[Tensor], targets: Tensor,
                            weights: Tensor, avg_factor: Tensor) -> Tensor:
        """``loss_cls`` of all priors, taken level by level.

        Each level's ``[B, A*K, H, W]`` map is seen as ``[B·H·W·A, K]`` rows
        (a view for channels-last maps: no copy, and the gradient lands in
        the map's own layout). With ``avg_factor`` the losses normalise a sum,
        so the sum over levels is the loss of the whole batch.

        Args:
            cls_scores: per level ``[B, A*K, H, W]`` logits.
            targets: ``[B, N]`` int64 labels (``K`` = background) or
                ``[B, N, K]`` float soft targets, priors in level order.
            weights: ``[B, N]`` per-prior weights.
            avg_factor: the normaliser.
        """
        sizes = [s.shape[-2] * s.shape[-1] * (s.shape[1] // self.num_classes)
                 for s in cls_scores]
        total = None
        for level, level_targets, level_weights in zip(
                cls_scores, targets.split(sizes, 1), weights.split(sizes, 1)):
            rows = level.permute(0, 2, 3, 1).reshape(-1, self.num_classes)
            loss = self.loss_cls(rows, level_targets.flatten(0, 1), level_weights.reshape(-1),
                                 avg_factor=avg_factor)
            total = loss if total is None else total + loss
        return total

    # ---------------------------------------------------------------- inference
    def predict(self, feats: Sequence[Tensor], data_samples: Sequence,
                rescale: bool = True) -> List[InstanceData]:
        """Detections per image from FPN features."""
        return self.predict_by_feat(*self(feats),
                                    batch_img_metas=[s.metainfo for s in data_samples],
                                    rescale=rescale)

    def decode_level(self, priors: Tensor, preds: Tensor, level: int,
                     max_shape: Tensor) -> Tensor:
        """Boxes ``[B, k, 4]`` xyxy from ``priors [B, k, 4|2]`` and box outputs ``[B, k, C]``.

        ``level`` is the FPN level; ``max_shape [B, 2]`` the images' ``(H, W)``
        to clip to. Heads whose box outputs need more than the coder override it.
        """
        return self.bbox_coder.decode(priors, preds, max_shape=max_shape)

    def predict_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        rescale: bool = False) -> List[InstanceData]:
        """Score filter, per-level top-k, decode, score factors, NMS, top ``max_per_img``.

        Args:
            cls_scores: per level ``[B, A*K, H, W]`` logits.
            bbox_preds: per level ``[B, A*C, H, W]`` box outputs.
            score_factors: optional per level ``[B, A, H, W]`` logits whose
                sigmoid multiplies the scores after the ``score_thr`` filter
                (centerness, quality).
            batch_img_metas: per image ``img_shape (H, W)`` and, with
                ``rescale``, ``scale_factor (w_scale, h_scale)``.
            rescale: map boxes back to the original image by ``scale_factor``.

        Returns:
            per image ``InstanceData(bboxes [D, 4] xyxy, scores [D], labels [D])``,
            sorted by descending score.
        """
        if batch_img_metas is None:
            raise ValueError(f'{type(self).__name__}.predict_by_feat needs batch_img_metas')
        cfg = self.test_cfg
        device, dtype = cls_scores[0].device, bbox_preds[0].dtype
        num_imgs = cls_scores[0].shape[0]
        featmap_sizes = [tuple(s.shape[-2:]) for s in cls_scores]
        priors = self.prior_generator.grid_priors(featmap_sizes, dtype=dtype, device=device)
        img_shapes = host_tensor([m['img_shape'][:2] for m in batch_img_metas], dtype, device)
        # the sigmoid is monotonic: rank logits, squash only the k kept, and let the top-k
        # skip logits whose score cannot pass the threshold (with a margin for rounding)
        thr = cfg.score_thr
        min_logit = math.log(thr / (1 - thr)) - 1e-3 if 0 < thr < 1 else float('-inf')
        scores, labels, boxes, keep = [], [], [], []
        for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
            top_logits, prior_idx, top_labels = topk_per_image(cls_score, self.num_classes,
                                                               cfg.nms_pre, min_logit)
            level_scores = top_logits.sigmoid()
            keep.append(level_scores > thr)
            if score_factors is not None:
                level_scores = level_scores * gather_priors(score_factors[level], prior_idx,
                                                            1).squeeze(-1).sigmoid()
            scores.append(level_scores)
            labels.append(top_labels)
            boxes.append(self.decode_level(
                priors[level][prior_idx], gather_priors(bbox_pred, prior_idx,
                                                        self.bbox_channels),
                level, img_shapes))
        scores, labels, boxes = torch.cat(scores, 1), torch.cat(labels, 1), torch.cat(boxes, 1)
        keep = torch.cat(keep, 1)
        if rescale:
            factors = host_tensor([m['scale_factor'] for m in batch_img_metas], boxes.dtype,
                                  device)
            boxes = boxes / factors.repeat(1, 2).unsqueeze(1)
        if cfg.min_bbox_size >= 0:
            keep &= (boxes[..., 2:] - boxes[..., :2] > cfg.min_bbox_size).all(-1)
        # on CUDA the host waits three times: for the number of candidates above the
        # threshold, inside torchvision's NMS, and for the per-image counts of the split
        candidates = keep.flatten().nonzero().squeeze(1)
        img_idx = torch.div(candidates, keep.shape[1], rounding_mode='floor')
        boxes, scores, labels = (t.flatten(0, 1)[candidates] for t in (boxes, scores, labels))
        kept = batched_class_nms(boxes, scores, img_idx * self.num_classes + labels,
                                 cfg.iou_threshold)
        return [InstanceData(bboxes=boxes[sel], scores=scores[sel], labels=labels[sel])
                for sel in split_per_image(kept, img_idx, num_imgs, cfg.max_per_img)]
