# 12 epochs, SGD, linear warm-up over 500 iterations, lr x0.1 after epochs 8 and 11.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=12, milestones=[8, 11], gamma=0.1),
]

# GuardedOptimWrapper = mmengine's OptimWrapper that never applies a NaN/inf loss;
# clip_grad=dict(max_norm=35, norm_type=2) clips, skip_nonfinite=True skips such steps.
optim_wrapper = dict(
    type='GuardedOptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

# tools/train.py --auto-scale-lr: lr x (GPUs x samples_per_gpu) / base_batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
