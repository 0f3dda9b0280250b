"""FCOSHead against MMDetection 3.3.0 (tests/data/fcos_head.pt), and its target rules."""
import copy
import math

import pytest
import torch
from mmengine.structures import InstanceData

from detkit.models.utils.level_maps import flatten_levels
from detkit.registry import MODELS
from detkit.structures import GtBatch
from detkit.structures.bbox import centerness_target

from models.dense_heads.ref_inputs import build_head, gts, metas

STRIDES = [8, 16, 32, 64, 128]


def outputs(ref, requires_grad=False):
    out = ref['outputs']
    return [[t.clone().requires_grad_(requires_grad) for t in out[k]]
            for k in ('cls_scores', 'bbox_preds', 'centernesses')]


def featmap_sizes(ref):
    return [tuple(s.shape[-2:]) for s in ref['outputs']['cls_scores']]


def test_layout_and_init():
    head = MODELS.build(dict(type='FCOSHead', num_classes=4, in_channels=32, feat_channels=32,
                             stacked_convs=2, strides=STRIDES))
    head.init_weights()
    names = [n for n, _ in head.named_parameters()]
    assert names[:3] == ['cls_convs.0.conv.weight', 'cls_convs.0.gn.weight',
                         'cls_convs.0.gn.bias']   # GN(32) by default: no conv bias
    assert names[-11:] == ['conv_cls.weight', 'conv_cls.bias', 'conv_reg.weight',
                           'conv_reg.bias', 'conv_centerness.weight', 'conv_centerness.bias'] + [
        f'scales.{i}.scale' for i in range(5)]
    assert head.cls_convs[0].gn.num_groups == 32
    assert torch.allclose(head.conv_cls.bias, torch.full((4,), -math.log(99)))
    assert head.conv_centerness.bias.abs().max() == 0 and head.conv_reg.bias.abs().max() == 0
    assert head.conv_centerness.weight.std().item() == pytest.approx(0.01, rel=0.3)
    assert [s.scale.item() for s in head.scales] == [1.0] * 5
    assert head.regress_ranges[-1] == (512.0, 1e8)


def test_forward_matches_reference(load_ref):
    ref = load_ref('fcos_head')
    head = build_head(ref)
    ours = head([f.float() for f in ref['inputs']['feats']])
    for ours_level, theirs_level in zip(ours, outputs(ref)):
        for a, b in zip(ours_level, theirs_level):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_targets_match_reference(load_ref):
    ref = load_ref('fcos_head')
    head = build_head(ref)
    theirs = ref['outputs']['targets']
    targets = head.get_targets(featmap_sizes(ref), gts(ref), metas(ref))
    assert targets.level_sizes == [1536, 384, 96, 24, 6]
    assert torch.equal(targets.priors, torch.cat(theirs['points']))
    distances = head.distance_targets(targets)
    centerness = centerness_target(distances)
    splits = zip(targets.labels.split(targets.level_sizes, 1),
                 targets.pos_mask.split(targets.level_sizes, 1),
                 distances.split(targets.level_sizes, 1), centerness.split(targets.level_sizes, 1),
                 theirs['labels'], theirs['pos_index'], theirs['pos_bbox_targets'],
                 theirs['centerness_targets'])
    decoded_targets, decoded_preds = [], []
    boxes = head.bbox_coder.decode(targets.priors, distances)
    preds = head.bbox_coder.decode(targets.priors, flatten_levels(outputs(ref)[1], 4))
    for level, (labels, pos, dist, ctr, their_labels, their_pos, their_dist,
                their_ctr) in enumerate(splits):
        assert torch.equal(labels, their_labels.long())
        flat_pos = pos.reshape(-1).nonzero().squeeze(1)   # image-major, as the reference
        assert torch.equal(flat_pos, their_pos)
        assert torch.equal(dist.reshape(-1, 4)[flat_pos], their_dist)
        torch.testing.assert_close(ctr.reshape(-1)[flat_pos], their_ctr, rtol=1e-5, atol=1e-6)
        for ours, decoded in ((boxes, decoded_targets), (preds, decoded_preds)):
            decoded.append(ours.split(targets.level_sizes, 1)[level].reshape(-1, 4)[flat_pos])
    # what the IoU loss compares, in MMDetection's order (level, image, location)
    assert torch.equal(torch.cat(decoded_targets), theirs['pos_decoded_bbox_targets'])
    torch.testing.assert_close(torch.cat(decoded_preds), theirs['pos_decoded_bbox_preds'],
                               rtol=1e-5, atol=1e-5)
    assert targets.pos_mask.sum(1).tolist() == [191, 106]
    assert targets.avg_factor.item() == theirs['num_pos_avg_factor'] == 297
    assert targets.avg_factor.dtype == torch.float32
    assert (centerness * targets.pos_mask).sum().item() == pytest.approx(
        theirs['centerness_denorm'], rel=1e-5)


def test_losses_and_gradients_match_reference(load_ref, dense):
    ref = load_ref('fcos_head')
    out = ref['outputs']
    head = build_head(ref)
    inputs = outputs(ref, requires_grad=True)
    losses = head.loss_by_feat(*inputs, gts(ref), metas(ref))
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_centerness'}
    for key, value in out['losses'].items():
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=1e-6)
    sum(losses.values()).backward()
    for ours, theirs in zip(inputs[0], out['grad_cls_scores']):
        torch.testing.assert_close(ours.grad, theirs, rtol=1e-4, atol=1e-8)
    for key, level_inputs in zip(('grad_bbox_preds', 'grad_centernesses'), inputs[1:]):
        for ours, theirs in zip(level_inputs, out[key]):
            torch.testing.assert_close(ours.grad, dense(theirs), rtol=1e-4, atol=1e-8)


def test_losses_from_own_forward_match_reference(load_ref):
    ref = load_ref('fcos_head')
    head = build_head(ref)
    losses = head.loss_by_feat(*head([f.float() for f in ref['inputs']['feats']]), gts(ref),
                               metas(ref))
    for key, value in ref['outputs']['losses'].items():
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=0)


def b_outputs(ref, dense, norm_on_bbox=False):
    cls = [dense(s) for s in ref['inputs']['b_cls_scores']]
    box = [t.float() for t in ref['inputs']['b_bbox_preds']]
    if norm_on_bbox:  # the same boxes, in units of the level's stride
        box = [t / s for t, s in zip(box, STRIDES)]
    return cls, box, [t.float() for t in ref['inputs']['b_centernesses']]


def assert_same_detections(ours, theirs):
    assert [len(o) for o in ours] == [len(t['labels']) for t in theirs] == [100, 100]
    for o, t in zip(ours, theirs):
        assert torch.equal(o.labels, t['labels'].long())
        torch.testing.assert_close(o.bboxes, t['bboxes'], rtol=0, atol=1e-3)
        torch.testing.assert_close(o.scores, t['scores'], rtol=0, atol=1e-5)


def test_predict_matches_reference(load_ref, dense):
    ref = load_ref('fcos_head')
    head = build_head(ref)
    pred = head.predict_by_feat(*b_outputs(ref, dense), batch_img_metas=metas(ref))
    assert_same_detections(pred, ref['outputs']['pred_b'])


def test_norm_on_bbox_works_in_strides(load_ref, dense):
    """With ``norm_on_bbox`` the box outputs and targets are in strides; IoU and
    centerness are scale-free, so the same boxes give MMDetection's losses and
    detections."""
    ref = load_ref('fcos_head')
    head = build_head(ref, norm_on_bbox=True)
    cls, box, ctr = outputs(ref)
    box = [t / s for t, s in zip(box, STRIDES)]
    losses = head.loss_by_feat(cls, box, ctr, gts(ref), metas(ref))
    for key, value in ref['outputs']['losses'].items():
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=1e-6)
    pred = head.predict_by_feat(*b_outputs(ref, dense, norm_on_bbox=True),
                                batch_img_metas=metas(ref))
    assert_same_detections(pred, ref['outputs']['pred_b'])
    with torch.no_grad():
        head.conv_reg.bias.zero_()   # about half of the raw distances negative
    raw = head.conv_reg(head.reg_convs(ref['inputs']['feats'][0].float()))
    expected = (raw * head.scales[0].scale).clamp(min=0)
    assert 0.2 < (expected == 0).float().mean() < 0.8
    head.eval()   # the same in both modes (MMDetection multiplies by the stride in eval)
    torch.testing.assert_close(head([f.float() for f in ref['inputs']['feats']])[1][0], expected)


def plain_candidates(points, strides, ranges, boxes, radius=None):
    """The rule of MMDetection's ``_get_targets_single``, one point-gt pair at a time."""
    out = torch.zeros(len(points), len(boxes), dtype=torch.bool)
    for n, ((x, y), stride, (lo, hi)) in enumerate(zip(points.tolist(), strides, ranges)):
        for g, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
            dist = [x - x1, y - y1, x2 - x, y2 - y]
            region = [x1, y1, x2, y2]
            if radius is not None:
                cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, stride * radius
                region = [max(cx - r, x1), max(cy - r, y1), min(cx + r, x2), min(cy + r, y2)]
            inside = min(x - region[0], y - region[1], region[2] - x, region[3] - y) > 0
            out[n, g] = inside and lo <= max(dist) <= hi
    return out


@pytest.mark.parametrize('center_sampling', [False, True])
def test_candidates_follow_the_plain_rule(center_sampling):
    head = MODELS.build(dict(type='FCOSHead', num_classes=3, in_channels=8, feat_channels=8,
                             stacked_convs=0, strides=[8, 16, 32],
                             regress_ranges=[(-1, 32), (32, 64), (64, 1e8)], norm_cfg=None,
                             center_sampling=center_sampling))
    sizes = [(12, 16), (6, 8), (3, 4)]
    points = torch.cat(head.prior_generator.grid_priors(sizes))
    level_sizes = [h * w for h, w in sizes]
    torch.manual_seed(0)
    xy = torch.rand(2, 9, 2) * torch.tensor([128., 96.])
    wh = torch.rand(2, 9, 2) * 90 + 4
    boxes = torch.cat([xy, xy + wh], -1).round()   # integer corners: points land on edges
    ours = head.candidates(points, level_sizes, boxes)
    strides = [s for s, n in zip(head.strides, level_sizes) for _ in range(n)]
    ranges = [r for r, n in zip(head.regress_ranges, level_sizes) for _ in range(n)]
    radius = head.center_sample_radius if center_sampling else None
    for img in range(2):
        assert torch.equal(ours[img], plain_candidates(points, strides, ranges, boxes[img],
                                                       radius))
    assert ours.sum() > 20


def test_center_sampling_keeps_a_square_of_points_around_the_centre():
    head = MODELS.build(dict(type='FCOSHead', num_classes=1, in_channels=8, feat_channels=8,
                             stacked_convs=0, strides=[8], regress_ranges=[(-1, 1e8)],
                             norm_cfg=None, center_sampling=True))
    gt = [InstanceData(bboxes=torch.tensor([[0., 0., 100., 100.]]), labels=torch.tensor([0]))]
    targets = head.get_targets([(16, 16)], gt, [dict(pad_shape=(128, 128))])
    # centre region (50 ± 12): points 44, 52, 60 on each axis
    pos = targets.pos_mask[0].view(16, 16).nonzero().tolist()
    assert pos == [[y, x] for y in (5, 6, 7) for x in (5, 6, 7)]


def test_smallest_gt_wins_and_labels_follow_it():
    head = MODELS.build(dict(type='FCOSHead', num_classes=3, in_channels=8, feat_channels=8,
                             stacked_convs=0, strides=[8], regress_ranges=[(-1, 1e8)],
                             norm_cfg=None))
    gt = [InstanceData(bboxes=torch.tensor([[0., 0., 64., 64.], [8., 8., 40., 40.]]),
                       labels=torch.tensor([2, 1]))]
    targets = head.get_targets([(8, 8)], gt, [dict(pad_shape=(64, 64))])
    labels = targets.labels[0].view(8, 8)
    assert labels[1:5, 1:5].eq(1).all() and labels[0].eq(2).all() and labels[5:].eq(2).all()
    assert torch.equal(targets.bbox_targets[0, 2 * 8 + 2], torch.tensor([8., 8., 40., 40.]))
    assert targets.avg_factor.item() == 64


def test_batch_without_gts(load_ref):
    ref = load_ref('fcos_head')
    head = build_head(ref)
    empty = [InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))] * 2
    losses = head.loss_by_feat(*outputs(ref), empty, metas(ref))
    assert losses['loss_bbox'].item() == 0 and losses['loss_centerness'].item() == 0
    # every point is a negative; avg_factor max(0, 1) = 1
    all_neg = head.classification_loss(outputs(ref)[0], torch.full((2, 2046), 4),
                                       torch.ones(2, 2046), torch.tensor(1.))
    torch.testing.assert_close(losses['loss_cls'], all_neg)


def test_non_finite_output_at_a_negative_does_not_poison_the_loss(load_ref):
    ref = load_ref('fcos_head')
    head = build_head(ref)
    cls, box, ctr = outputs(ref)
    box[4][1, :, 0, 0] = float('nan')   # P7 has no positives (MMDetection never reads it)
    ctr[4][1, :, 0, 0] = float('nan')
    losses = head.loss_by_feat(cls, box, ctr, gts(ref), metas(ref))
    for key in ('loss_bbox', 'loss_centerness'):
        torch.testing.assert_close(losses[key], ref['outputs']['losses'][key], rtol=1e-5,
                                   atol=1e-6)


def test_giou_variant_trains_finite(load_ref):
    ref = load_ref('fcos_head')
    head = build_head(ref, loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
                      center_sampling=True, norm_on_bbox=True, centerness_on_reg=True)
    losses = head.loss_by_feat(*head([f.float() for f in ref['inputs']['feats']]), gts(ref),
                               metas(ref))
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and 0 < losses['loss_bbox'].item() < 2
    assert torch.isfinite(head.conv_centerness.weight.grad).all()


@pytest.mark.parametrize('change, error, message', [
    (dict(train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                                       neg_iou_thr=0.4))), ValueError,
     'uses no train_cfg.assigner'),
    (dict(regress_ranges=[(-1, 64), (64, 1e8)]), ValueError, 'regress_ranges has 2 ranges but'),
    (dict(regress_ranges=[(64, 0)] * 5), ValueError, r'lo < hi, got \(64, 0\)'),
    (dict(center_sample_radius=0), ValueError, 'center_sample_radius must be > 0'),
    (dict(dcn_on_last_conv=True), NotImplementedError, 'dcn_on_last_conv=True'),
    (dict(train_cfg=dict(asigner=None)), ValueError, 'Did you mean "assigner"'),
])
def test_bad_config_is_named(load_ref, change, error, message):
    cfg = copy.deepcopy(load_ref('fcos_head')['meta']['head_cfg'])
    cfg.update(change)
    with pytest.raises(error, match=message):
        MODELS.build(cfg)


def test_padded_gts_give_the_same_losses_without_host_reads(load_ref, monkeypatch):
    """With gts padded beforehand to a fixed capacity (a ``GtBatch``), the loss path
    reads no tensor back to the host: it can run asynchronously on a GPU."""
    from models.test_sync_free_parts import no_host_reads
    ref = load_ref('fcos_head')
    head = build_head(ref)
    padded = GtBatch.from_instances(gts(ref), metas(ref), capacity=12)
    inputs = outputs(ref, requires_grad=True)
    with no_host_reads(monkeypatch):
        losses = head.loss_by_feat(*inputs, padded)
        sum(losses.values()).backward()
    for key, value in ref['outputs']['losses'].items():
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=1e-6)
    assert inputs[1][0].grad.abs().sum() > 0
