# torchvision's from-scratch RetinaNet recipe on detkit's synthetic shapes: a
# full-width ResNet-18 (every stage trained, BN in train mode), FPN 256 with P6
# from C5, RetinaHead 4 x 256, anchors 32-512, short side 320 / long side <= 512,
# SGD lr 0.0025 momentum 0.9 wd 1e-4, linear warm-up over 200 iterations, lr x0.1
# at 1000 and 1300, batch 4, 1500 iterations. It is what benchmarks/train_parity.py
# trains against torchvision's own RetinaNet (see docs/training.md, "Training from
# scratch", and docs/benchmarks.md for the measured mAP of both).
# Two settings differ from MMDetection's defaults, both as torchvision has them:
# zero_init_residual=False, because with SGD from scratch the zeroed residual
# branches barely move (their gradients are proportional to the zeroed BN weight),
# and a ReLU before the P7 conv (torchvision's LastLevelP6P7).
_base_ = [
    '_base_/models/retinanet_r50_fpn.py',
    '_base_/datasets/synthetic_detection.py',
    '_base_/schedules/schedule_1x.py',
    '_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        depth=18,
        out_indices=(1, 2, 3),     # C3..C5: 128, 256, 512 channels
        frozen_stages=-1,          # from scratch: train every stage ...
        norm_eval=False,           # ... and let BN learn its statistics
        zero_init_residual=False,  # residual branches start alive (see above)
        init_cfg=None),
    neck=dict(in_channels=[128, 256, 512], start_level=0, relu_before_extra_convs=True),
    bbox_head=dict(num_classes=5))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(512, 320), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(512, 320), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 1500
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.0025))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1000, 1300],
         gamma=0.1),
]
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
