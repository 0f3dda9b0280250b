# FCOS on the embedded synthetic set: the demo's half-width ResNet-18, data and AdamW
# (configs/retinanet_r18_fpn_synthetic.py), 14 epochs in fp32, with FCOS's head at the
# demo's width and depth and MMDetection's improved FCOS recipe
# (fcos_r50-caffe_fpn_gn-head-center-normbbox-centeronreg-giou): positives only near
# the gt centres, distances in strides, centerness on the box tower, GIoU loss.
# With --seed 0: mAP 0.546 / mAP@0.5 0.778 on the val set, 12.0 min on 2 CPU cores
# (docs/detectors.md).
_base_ = '../retinanet_r18_fpn_synthetic.py'
model = dict(
    type='FCOS',
    neck=dict(add_extra_convs='on_output', relu_before_extra_convs=True),
    bbox_head=dict(
        _delete_=True,
        type='FCOSHead',
        num_classes=5,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        strides=[8, 16, 32, 64, 128],
        center_sampling=True,
        norm_on_bbox=True,
        centerness_on_reg=True,
        conv_bias=True,
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0)),
    train_cfg=None)  # FCOS assigns its points itself: no assigner

max_epochs = 14
train_cfg = dict(max_epochs=max_epochs, val_interval=7)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[10, 13],
         gamma=0.1),
]
