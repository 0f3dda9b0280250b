# RetinaNet R50-FPN, 1x schedule on COCO: MMDetection's retinanet_r50_fpn_1x_coco.
_base_ = [
    '_base_/models/retinanet_r50_fpn.py',
    '_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x.py',
    '_base_/default_runtime.py',
]
# lr 0.01 is for a total batch of 16 (8 GPUs x 2 images); --auto-scale-lr rescales it.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
