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
        # torchvision's ImageNet ResNeXt-101 64x4d (same names and shapes); no download
        # is attempted: fetch
        # https://download.pytorch.org/models/resnext101_64x4d-173b62eb.pth into checkpoints/
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/resnext101_64x4d-173b62eb.pth')))
