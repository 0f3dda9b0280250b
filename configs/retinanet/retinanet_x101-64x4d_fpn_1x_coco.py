# RetinaNet ResNeXt-101 64x4d FPN, 1x schedule on COCO: MMDetection's
# retinanet_x101-64x4d_fpn_1x_coco. Its published checkpoint loads unchanged
# (tools/model_converters/from_mmdet.py); only the backbone differs from R50.
_base_ = '../retinanet_r50_fpn.py'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        style='pytorch',
        # MMDetection's ImageNet weights (downloaded once into detkit's cache);
        # 'torchvision://resnext101_64x4d' has the same names and shapes
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnext101_64x4d')))
