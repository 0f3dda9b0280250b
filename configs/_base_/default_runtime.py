# Hooks, logging, environment and checkpoint loading shared by every config.
default_scope = 'detkit'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # every `interval` epochs, plus best_coco_bbox_mAP_epoch_N.pth for the best evaluation
    # (another metric: set save_best to its key, or None); max_keep_ckpts=-1 keeps all.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=-1,
                    save_best='coco/bbox_mAP', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'),
    # detkit's: stop (or skip, optim_wrapper.skip_nonfinite=True) on a NaN/inf loss;
    # report checkpoints that do not fit the model; seed each epoch for exact resumes.
    nonfinite=dict(type='NonFiniteLossHook'),
    checkpoint_match=dict(type='CheckpointMatchHook'),
    epoch_seed=dict(type='EpochSeedHook'),
    # one warning line when loss_cls climbs back to its initial level (classifier collapse)
    loss_collapse=dict(type='LossCollapseHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # timeout (s): how long a rank waits for a peer that hangs before it fails.
    dist_cfg=dict(backend='nccl', timeout=1800),
)

# JSON scalars: <work_dir>/<timestamp>/vis_data/scalars.json (and <timestamp>.json).
# TensorBoard: add dict(type='TensorboardVisBackend') (pip install tensorboard).
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
