# Pascal VOC: train on VOC2007 + VOC2012 trainval (repeated 3 times per epoch),
# test on VOC2007 test, as MMDetection's voc0712.py. Expects
# data/VOCdevkit/VOC2007/ and VOC2012/ with Annotations/, ImageSets/Main/ and
# JPEGImages/.
dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# num_workers='auto': with CUDA the cores per GPU process (at most 8), else 2
# (detkit.engine.device_defaults); pinned memory is turned on with CUDA.
train_dataloader = dict(
    batch_size=2,
    num_workers='auto',
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='RepeatDataset',
        times=3,
        dataset=dict(
            type='ConcatDataset',
            datasets=[
                dict(
                    type=dataset_type,
                    data_root=data_root,
                    ann_file='VOC2007/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2007/'),
                    filter_cfg=dict(filter_empty_gt=True, min_size=32),
                    pipeline=train_pipeline,
                    backend_args=backend_args),
                dict(
                    type=dataset_type,
                    data_root=data_root,
                    ann_file='VOC2012/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2012/'),
                    filter_cfg=dict(filter_empty_gt=True, min_size=32),
                    pipeline=train_pipeline,
                    backend_args=backend_args),
            ])))
val_dataloader = dict(
    batch_size=1,
    num_workers='auto',
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# VOCDataset in test_mode writes its ground truth as COCO JSON (difficult
# objects as iscrowd=1) and names it in metainfo['ann_file']; bbox_mAP_50 is
# VOC's mAP@0.5 up to COCO's 101-point interpolation of precision.
val_evaluator = dict(type='CocoMetric', ann_file=None, metric='bbox')
test_evaluator = val_evaluator
