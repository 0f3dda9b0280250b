# FCOS R50-caffe FPN with a GN head, 1x schedule on COCO: MMDetection's
# fcos_r50-caffe_fpn_gn-head_1x_coco (36.6 AP there). RetinaNet R50-FPN's data,
# schedule and test settings, with a caffe-style ResNet-50 (stride on the 1x1 conv,
# frozen BN, Detectron's weights, BGR 0-255 input minus the mean, no std), an FPN
# whose extra levels P6/P7 come from P5 with a ReLU between, and the FCOS head
# (GN towers, centerness, IoU loss; FCOSHead's defaults).
# Its published checkpoints load unchanged (tools/model_converters/from_mmdet.py).
_base_ = '../retinanet_r50_fpn.py'
model = dict(
    type='FCOS',
    data_preprocessor=dict(
        mean=[102.9801, 115.9465, 122.7717],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        norm_cfg=dict(type='BN', requires_grad=False),
        style='caffe',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron/resnet50_caffe')),
    neck=dict(
        add_extra_convs='on_output',  # use P5
        relu_before_extra_convs=True),
    bbox_head=dict(
        _delete_=True,
        type='FCOSHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=None)  # FCOS assigns its points itself: no assigner

# learning rate: a third of it for the first 500 iterations, x0.1 after epochs 8 and 11
param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]

# optimizer: biases at twice the lr and without weight decay; gradients clipped
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
