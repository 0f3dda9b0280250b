# detkit's embedded dataset: synthetic shapes in COCO format, generated on
# first use (no download). 1000 train / 200 val images of 256x256, 256x192
# or 192x256 px, 5 classes; see docs/datasets.md.
dataset_type = 'SyntheticCocoDataset'
# None: $DETKIT_DATA/synthetic_v1, by default ~/.cache/detkit/synthetic_v1.
data_root = None
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# num_workers=0: the pipeline costs ~0.7 ms an image in the main process, while
# on 2 CPU cores worker processes would take cores from the model and add ~4 ms
# an image of inter-process transfer (benchmarks/data_pipeline.py).
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# ann_file=None: the metric reads the evaluated dataset's metainfo['ann_file']
# (the generated val JSON, whose location is only known at run time).
val_evaluator = dict(type='CocoMetric', ann_file=None, metric='bbox')
test_evaluator = val_evaluator
