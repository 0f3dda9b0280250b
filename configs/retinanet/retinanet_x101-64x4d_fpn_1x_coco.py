# RetinaNet ResNeXt-101 64x4d FPN, 1x schedule on COCO: MMDetection's
# retinanet_x101-64x4d_fpn_1x_coco. Its published checkpoint loads unchanged
# (tools/model_converters/from_mmdet.py --config this file). Only the backbone
# differs from R50; the rest of the backbone dict (frozen_stages=1, norm_eval,
# out_indices, style) is inherited, as in MMDetection's file.
_base_ = '../retinanet_r50_fpn.py'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        # MMDetection's ImageNet weights (downloaded once into detkit's cache);
        # 'torchvision://resnext101_64x4d' has the same names and shapes
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnext101_64x4d')))
