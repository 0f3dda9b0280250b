"""RetinaHead against MMDetection 3.3.0 (tests/data/head_small.pt)."""
import copy
import math

import pytest
import torch
from mmengine.structures import InstanceData

from detkit.registry import MODELS

from models.dense_heads.ref_inputs import build_head, gts, metas


def test_layout_and_init():
    head = MODELS.build(dict(type='RetinaHead', num_classes=4, in_channels=32,
                             feat_channels=32, stacked_convs=2))
    head.init_weights()
    assert head.retina_cls.weight.shape == (36, 32, 3, 3)
    assert head.retina_reg.weight.shape == (36, 32, 3, 3)
    assert torch.allclose(head.retina_cls.bias, torch.full((36,), -math.log(99)))
    assert head.cls_convs[0].conv.weight.std().item() == pytest.approx(0.01, rel=0.2)
    assert [n for n, _ in head.named_parameters()][:2] == ['cls_convs.0.conv.weight',
                                                          'cls_convs.0.conv.bias']


def test_forward_matches_reference(load_ref):
    ref = load_ref('head_small')
    head = build_head(ref)
    cls_scores, bbox_preds = head([f.float() for f in ref['inputs']['feats']])
    for ours, theirs in zip(cls_scores + bbox_preds,
                            ref['outputs']['cls_scores'] + ref['outputs']['bbox_preds']):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_loss_and_gradients_match_reference(load_ref, dense):
    ref = load_ref('head_small')
    out = ref['outputs']
    head = build_head(ref)
    cls_scores = [t.clone().requires_grad_() for t in out['cls_scores']]
    bbox_preds = [t.clone().requires_grad_() for t in out['bbox_preds']]
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts(ref), metas(ref))
    torch.testing.assert_close(losses['loss_cls'], out['loss_cls'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses['loss_bbox'], out['loss_bbox'], rtol=1e-5, atol=1e-6)
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    for ours, theirs in zip(cls_scores, out['grad_cls_scores']):
        torch.testing.assert_close(ours.grad, theirs, rtol=1e-4, atol=1e-8)
    for ours, theirs in zip(bbox_preds, out['grad_bbox_preds']):
        torch.testing.assert_close(ours.grad, dense(theirs), rtol=1e-4, atol=1e-8)


def assert_same_detections(ours, theirs, box_atol=1e-4, score_atol=1e-5):
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert torch.equal(o.labels, t['labels'].long())
        torch.testing.assert_close(o.bboxes, t['bboxes'], rtol=0, atol=box_atol)
        torch.testing.assert_close(o.scores, t['scores'], rtol=0, atol=score_atol)


def test_predict_matches_reference(load_ref, dense):
    ref = load_ref('head_small')
    head = build_head(ref)
    out = ref['outputs']
    pred_a = head.predict_by_feat(out['cls_scores'], out['bbox_preds'], batch_img_metas=metas(ref))
    assert [len(p) for p in pred_a] == [0, 0]
    b_cls = [dense(s) for s in ref['inputs']['b_cls_scores']]
    b_box = [dense(s) for s in ref['inputs']['b_bbox_preds']]
    pred_b = head.predict_by_feat(b_cls, b_box, batch_img_metas=metas(ref))
    assert [len(p) for p in pred_b] == [100, 100]
    assert_same_detections(pred_b, out['pred_b'])


def test_image_without_gts_counts_one_in_avg_factor(load_ref):
    ref = load_ref('head_small')
    head = build_head(ref)
    out = ref['outputs']
    empty = [InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))] * 2
    losses = head.loss_by_feat(out['cls_scores'], out['bbox_preds'], empty, metas(ref))
    assert losses['loss_bbox'].item() == 0.0
    # every valid anchor is a negative; the sum is divided by avg_factor 2 (1 per image)
    assert losses['loss_cls'].item() > 0


def test_ignore_regions_remove_anchors_from_the_loss(load_ref):
    ref = load_ref('head_small')
    cfg = copy.deepcopy(ref['meta']['head_cfg'])
    cfg['train_cfg']['assigner']['ignore_iof_thr'] = 0.5
    head = MODELS.build(cfg)
    head.load_state_dict(ref['inputs']['state_dict'])
    out = ref['outputs']
    ignore = [InstanceData(bboxes=torch.tensor([[0., 0., 200., 200.]])),
              InstanceData(bboxes=torch.zeros(0, 4))]
    plain = head.loss_by_feat(out['cls_scores'], out['bbox_preds'], gts(ref), metas(ref))
    ignored = head.loss_by_feat(out['cls_scores'], out['bbox_preds'], gts(ref), metas(ref),
                                ignore)
    assert ignored['loss_cls'].item() < plain['loss_cls'].item()
