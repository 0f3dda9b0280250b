"""detkit's side of the from-scratch parity benchmark: a config trained by mmengine's Runner.

``configs/retinanet_r18_fpn_synthetic_scratch_sgd.py`` is set to the recipe
(sizes, width, anchors, schedule, seed) and trained with everything a user
gets from ``tools/train.py``: detkit's data pipeline, sampler, hooks and
optimizer wrapper. ``options`` are extra ``--cfg-options`` style overrides,
for ablations (``model.backbone.zero_init_residual=False`` ...).
"""
import copy
import os
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from detkit.engine.hooks.non_finite_loss_hook import NonFiniteLossError
from .parity_common import Diverged, Recipe

DEFAULT_CONFIG = 'configs/retinanet_r18_fpn_synthetic_scratch_sgd.py'


class LossCurveHook(Hook):
    """Keeps ``loss_cls`` and ``loss_bbox`` of every training iteration."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.curve: Dict[str, list] = dict(loss_cls=[], loss_bbox=[])

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for key in self.curve:
            self.curve[key].append(float(outputs[key].detach()))


def recipe_config(config: str, recipe: Recipe, seed: int, work_dir: str, data_root: str,
                  options: Optional[dict] = None) -> Config:
    """``config`` on ``data_root`` with the recipe's sizes, width, anchors, schedule and seed."""
    cfg = Config.fromfile(config)
    scale = (recipe.long, recipe.short)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = data_root
        for step in loader.dataset.pipeline:
            if step.type == 'Resize':
                step.scale = scale
    cfg.train_dataloader.batch_size = recipe.batch
    head = cfg.model.bbox_head
    cfg.model.neck.out_channels = head.in_channels = head.feat_channels = recipe.width
    head.anchor_generator.octave_base_scale = recipe.anchor_base / 8
    cfg.optim_wrapper.optimizer.update(lr=recipe.lr, momentum=recipe.momentum,
                                       weight_decay=recipe.weight_decay)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=recipe.iters,
                         val_interval=recipe.iters + 1)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=recipe.warmup),
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=recipe.iters,
             milestones=list(recipe.steps), gamma=0.1)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    if options:
        cfg.merge_from_dict(options)
    return cfg


def train(cfg: Config) -> tuple:
    """Train ``cfg`` (no validation during training); ``(model, curve, val loader cfg)``.

    Raises:
        Diverged: when ``NonFiniteLossHook`` stopped the run at a non-finite loss.
    """
    val_loader = copy.deepcopy(cfg.val_dataloader)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    os.makedirs(cfg.work_dir, exist_ok=True)
    runner = Runner.from_cfg(cfg)
    curve_hook = LossCurveHook()
    runner.register_hook(curve_hook)
    try:
        model = runner.train()
    except NonFiniteLossError:  # NonFiniteLossHook stopped the run
        raise Diverged(runner.iter + 1, curve_hook.curve) from None
    return model, curve_hook.curve, val_loader


@torch.no_grad()
def predict(model: torch.nn.Module, val_loader_cfg) -> List[dict]:
    """Detections per val image in original pixels (``test_step`` rescales them)."""
    model.eval()
    out = []
    for data in Runner.build_dataloader(val_loader_cfg):
        for sample in model.test_step(data):
            pred = sample.pred_instances
            out.append(dict(image_id=sample.img_id, boxes=pred.bboxes, scores=pred.scores,
                            labels=pred.labels))
    return out
