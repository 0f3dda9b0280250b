"""The dense heads' loss path runs without a device→host synchronisation.

On CUDA every op recorded here would stall the launch queue and break CUDA
graph capture; the recorder sees them on the CPU just the same.
"""
import copy

import pytest
import torch
from mmengine.structures import InstanceData

from detkit.models.layers import nms
from detkit.registry import MODELS
from detkit.structures import GtBatch
from detkit.utils.sync_recorder import SyncRecorder

HEADS = ['head_small']


def _inputs(ref):
    gts = [InstanceData(bboxes=b, labels=l) for b, l in
           zip(ref['inputs']['gt_bboxes'], ref['inputs']['gt_labels'])]
    metas = [{k: tuple(v) for k, v in m.items()} for m in ref['inputs']['img_metas']]
    return gts, metas


@pytest.mark.parametrize('name', HEADS)
def test_loss_by_feat_and_backward_do_not_sync(load_ref, name):
    ref = load_ref(name)
    head = MODELS.build(copy.deepcopy(ref['meta']['head_cfg']))
    head.load_state_dict(ref['inputs']['state_dict'])
    gts, metas = _inputs(ref)
    batch = GtBatch.from_instances(gts, metas, capacity=8)
    outs = [[t.clone().requires_grad_() for t in ref['outputs'][k]]
            for k in ('cls_scores', 'bbox_preds')]
    with SyncRecorder() as rec:
        losses = head.loss_by_feat(*outs, batch)
        sum(losses.values()).backward()
    assert rec.events == [], rec.summary()
    # the padded capacity changes nothing
    plain = head.loss_by_feat(*[[t.detach() for t in o] for o in outs], gts, metas)
    for key, value in plain.items():
        torch.testing.assert_close(losses[key].detach(), value, rtol=1e-6, atol=0)


@pytest.mark.parametrize('name', HEADS)
def test_post_processing_syncs_only_for_the_threshold_and_the_split(load_ref, name,
                                                                     monkeypatch):
    """Besides torchvision's NMS (its CUDA kernel hands its mask to the host), the host
    waits for the number of candidates above ``score_thr`` and reads the per-image
    counts (a copy, not an op the recorder sees) at the end."""
    monkeypatch.setattr(nms, 'CPU_NMS_CHUNK', 10 ** 9)  # one NMS call, as on CUDA
    ref = load_ref(name)
    head = MODELS.build(copy.deepcopy(ref['meta']['head_cfg']))
    head.load_state_dict(ref['inputs']['state_dict'])
    _, metas = _inputs(ref)
    torch.manual_seed(0)  # scores of a trained model: many above score_thr
    outs = [[t + 3 * torch.randn_like(t) for t in ref['outputs']['cls_scores']],
            ref['outputs']['bbox_preds']]
    with SyncRecorder() as rec:
        results = head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)
    assert [op for op, _ in rec.events] == ['nonzero'], rec.summary()
    assert len(results) == len(metas) and sum(len(r) for r in results) > 0
