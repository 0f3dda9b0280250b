# GFL R50-FPN, 1x schedule on COCO: MMDetection's gfl_r50_fpn_1x_coco (40.2 AP there).
# ATSS's detector with GFL's head: joint class-quality scores (Quality Focal Loss) and box
# sides as distributions over 0..reg_max strides (Distribution Focal Loss + GIoU); no
# centerness. Its published checkpoints load unchanged (tools/model_converters/from_mmdet.py).
_base_ = '../atss/atss_r50_fpn_1x_coco.py'
model = dict(
    type='GFL',
    bbox_head=dict(
        _delete_=True,
        type='GFLHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator={{_base_.model.bbox_head.anchor_generator}},  # ATSS's
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            beta=2.0,
            loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        reg_max=16,
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0)))
