# torchvision's retinanet_resnet50_fpn (v1, COCO_V1 weights: 36.4 box AP) as a detkit
# config. Weights: tools/model_converters/from_torchvision.py; see docs/converters.md.
# Given the same normalised input, this model computes torchvision's head outputs and
# detections; each line below is one way torchvision differs from MMDetection.
_base_ = ['retinanet_r50_fpn.py']
model = dict(
    # the converted checkpoint holds every weight: nothing is read at build time
    backbone=dict(init_cfg=None),
    neck=dict(
        add_extra_convs='on_output',      # P6 = conv(P5 output), not conv(C5)
        relu_before_extra_convs=True),    # P7 = conv(ReLU(P6))
    bbox_head=dict(
        # torchvision's labels are COCO category ids: 91 with __background__ and N/A;
        # from_torchvision.py --coco80 keeps the 80 classes (then set num_classes=80)
        num_classes=91,
        anchor_generator=dict(
            _delete_=True,
            type='AnchorGenerator',
            strides=[8, 16, 32, 64, 128],
            ratios=[0.5, 1.0, 2.0],
            # int(s * 2 ** (i / 3)) pixels, not MMDetection's 4 * stride * 2 ** (i / 3)
            sizes=[[32, 40, 50], [64, 80, 101], [128, 161, 203], [256, 322, 406],
                   [512, 645, 812]],
            round_base_anchors=True),     # corners rounded to whole pixels
        bbox_coder=dict(
            # weights (1, 1, 1, 1); dw, dh clamped to log(1000 / 16) from above only
            add_ctr_clamp=True,
            ctr_clamp=None)),
    test_cfg=dict(
        min_bbox_size=-1,                 # no size filter after clipping
        max_per_img=300))                 # detections_per_img
