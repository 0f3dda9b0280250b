# ATSS on the embedded synthetic set: the demo's half-width ResNet-18, data and AdamW
# optimizer (configs/retinanet_r18_fpn_synthetic.py), with ATSS's head (the ATSSHead
# defaults are atss_r50_fpn_1x_coco's) at the demo's width and depth, and a short schedule:
# 4 epochs (500 iterations): mAP 0.405 / mAP@0.5 0.639 on the val set with --seed 0, 3.6 min
# on 2 CPU cores (docs/detectors.md).
_base_ = '../retinanet_r18_fpn_synthetic.py'
model = dict(
    type='ATSS',
    neck=dict(add_extra_convs='on_output'),
    bbox_head=dict(
        _delete_=True,
        type='ATSSHead',
        num_classes=5,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        # objects are 8-200 px on 256-px images: anchors of 32-512 px (4 x stride), not 8
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=4,
            scales_per_octave=1,
            strides=[8, 16, 32, 64, 128])),
    train_cfg=dict(_delete_=True, assigner=dict(type='ATSSAssigner', topk=9)),
    test_cfg=dict(nms=dict(iou_threshold=0.6)))

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[3],
         gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
