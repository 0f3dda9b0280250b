# The embedded default: a half-width ResNet-18 RetinaNet trained from scratch on
# detkit's synthetic shapes (generated on first use, no download), sized for 2 CPU
# cores: 20 epochs of 125 iterations. `bash tools/demo.sh` trains it with --amp, i.e.
# bf16 autocast on CPUs with AVX-512 BF16 or AMX: 0.27-0.32 s an iteration, 12 min in
# all, mAP 0.557-0.569 / mAP@0.5 0.826-0.844 with --seed 0 (fp32 takes 1.4x as long an
# iteration; 14 fp32 epochs gave 0.543 / 0.816). Without bf16 instructions it trains in
# fp32 (a one-line notice). docs/training.md, "Mixed precision".
_base_ = [
    '_base_/models/retinanet_r50_fpn.py',
    '_base_/datasets/synthetic_detection.py',
    '_base_/schedules/schedule_1x.py',
    '_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,          # half width: C3..C5 have 64, 128, 256 channels
        out_indices=(1, 2, 3),
        frozen_stages=-1,          # from scratch: train every stage ...
        norm_eval=False,           # ... and let BN learn its statistics
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256], out_channels=64, start_level=0),
    bbox_head=dict(
        num_classes=5,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        # objects are 8-200 px on 256-px images: anchors of 16-400 px (base 2 x stride)
        anchor_generator=dict(octave_base_scale=2)))

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
# From scratch, AdamW learns this set several times faster than SGD: after 375
# iterations mAP 0.18 (AdamW 1e-3) against 0.00 after 125 with SGD 0.02; 12 epochs
# of SGD 0.02 reached mAP 0.38, 14 of AdamW 0.53-0.54.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.001, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[14, 18],
         gamma=0.1),
]
default_hooks = dict(logger=dict(interval=25), checkpoint=dict(interval=10, max_keep_ckpts=2))
