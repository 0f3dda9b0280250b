from pathlib import Path

import pytest
import torch

from detkit.models.task_modules import AnchorGenerator, AssignResult, MaxIoUAssigner
from detkit.registry import TASK_UTILS
from detkit.structures import bbox_overlaps

DATA = Path(__file__).resolve().parents[2] / 'data'
RETINA_ASSIGNER = dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                       ignore_iof_thr=-1)


@pytest.fixture(scope='module')
def ref():
    assigner = torch.load(DATA / 'assigner.pt', weights_only=True)
    anchors = torch.load(DATA / 'anchors.pt', weights_only=True)
    assigner['priors'] = torch.cat(anchors['outputs']['anchors'])
    return assigner


def _pad(boxes_per_image, labels_per_image, num_slots=None):
    """Stack per-image gts into [B, G, 4], [B, G], [B, G] with junk in the padding."""
    num_slots = num_slots or max(len(b) for b in boxes_per_image)
    num_imgs = len(boxes_per_image)
    boxes = torch.tensor([[0., 0., 64., 64.]]).repeat(num_imgs, num_slots, 1)  # junk
    labels = torch.full((num_imgs, num_slots), 7)
    valid = torch.zeros(num_imgs, num_slots, dtype=torch.bool)
    for i, (b, lab) in enumerate(zip(boxes_per_image, labels_per_image)):
        boxes[i, :len(b)], labels[i, :len(b)], valid[i, :len(b)] = b, lab, True
    return boxes, labels, valid


def _loop_assign(priors, gts, labels, assigner, ignored=None):
    """MMDetection's per-image algorithm, written as its loop over gts."""
    num_priors = priors.size(0)
    if gts.size(0) == 0:
        return torch.zeros(num_priors, dtype=torch.long), torch.full((num_priors,), -1)
    overlaps = bbox_overlaps(gts, priors)
    if ignored is not None:
        overlaps[:, ignored] = -1
    max_ov, argmax = overlaps.max(dim=0)
    gt_max, gt_argmax = overlaps.max(dim=1)
    inds = torch.full((num_priors,), -1, dtype=torch.long)
    inds[(max_ov >= 0) & (max_ov < assigner.neg_iou_thr)] = 0
    pos = max_ov >= assigner.pos_iou_thr
    inds[pos] = argmax[pos] + 1
    for i in range(gts.size(0)):
        if gt_max[i] >= assigner.min_pos_iou:
            if assigner.gt_max_assign_all:
                inds[overlaps[i] == gt_max[i]] = i + 1
            else:
                inds[gt_argmax[i]] = i + 1
    out_labels = torch.where(inds > 0, labels[(inds - 1).clamp(min=0)], -1)
    return inds, out_labels


def test_matches_mmdetection_reference(ref):
    assigner = TASK_UTILS.build(RETINA_ASSIGNER)
    gts, labels, valid = _pad(ref['inputs']['gt_bboxes'], ref['inputs']['gt_labels'])
    result = assigner.assign(ref['priors'], [len(ref['priors'])], gts, labels, valid)
    assert isinstance(result, AssignResult)
    assert result.gt_inds.shape == (2, 18414) and result.gt_inds.dtype == torch.long
    assert torch.equal(result.gt_inds, torch.stack(ref['outputs']['gt_inds']).long())
    assert torch.equal(result.labels, torch.stack(ref['outputs']['labels']).long())
    diff = (result.max_overlaps - torch.stack(ref['outputs']['max_overlaps'])).abs().max()
    assert diff <= 1e-6
    assert result.num_gts.tolist() == [5, 0]
    img0 = result.gt_inds[0]
    assert [(img0 > 0).sum().item(), (img0 == 0).sum().item(), (img0 == -1).sum().item()] == \
        [102, 18055, 257]
    assert torch.bincount(img0[img0 > 0] - 1).tolist() == [33, 32, 31, 2, 4]


def test_padding_and_image_order_do_not_change_the_assignment(ref):
    assigner = MaxIoUAssigner(0.5, 0.4)
    boxes, labels = ref['inputs']['gt_bboxes'], ref['inputs']['gt_labels']
    tight = assigner.assign(ref['priors'], [len(ref['priors'])], *_pad(boxes, labels))
    # image order swapped and 3 junk slots that would match anchors if used
    loose = assigner.assign(ref['priors'],
                            [len(ref['priors'])], *_pad(boxes[::-1], labels[::-1], num_slots=8))
    assert torch.equal(loose.gt_inds.flip(0), tight.gt_inds)
    assert torch.equal(loose.labels.flip(0), tight.labels)
    assert torch.equal(loose.max_overlaps.flip(0), tight.max_overlaps)


def test_invalid_priors_are_removed_before_assigning(ref):
    assigner = MaxIoUAssigner(0.5, 0.4)
    priors = ref['priors']
    gts, labels, valid = _pad(ref['inputs']['gt_bboxes'][:1], ref['inputs']['gt_labels'][:1])
    full = assigner.assign(priors, [len(priors)], gts, labels, valid)
    # drop the low-quality matches of gts 3 and 4: they must move to their next-best priors
    prior_valid = ~((full.gt_inds == 4) | (full.gt_inds == 5))
    prior_valid &= AnchorGenerator([8, 16, 32, 64, 128], [0.5, 1., 2.], octave_base_scale=4,
                                   scales_per_octave=3).batch_valid_flags(
        [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)], [(224, 320)])
    masked = assigner.assign(priors, [len(priors)], gts, labels, valid, prior_valid=prior_valid)
    keep = prior_valid[0]
    subset_inds, subset_labels = _loop_assign(priors[keep], gts[0], labels[0], assigner)
    assert torch.equal(masked.gt_inds[0, keep], subset_inds)
    assert torch.equal(masked.labels[0, keep], subset_labels)
    assert (masked.gt_inds[0, ~keep] == -1).all() and (masked.labels[0, ~keep] == -1).all()
    assert (masked.max_overlaps[0, ~keep] == 0).all()
    assert (masked.gt_inds[0] == 4).any() and (masked.gt_inds[0] == 5).any()
    assert not torch.equal(masked.gt_inds[0, keep], full.gt_inds[0, keep])


@pytest.mark.parametrize('assign_all', [True, False])
def test_matches_the_per_gt_loop_on_tie_heavy_random_cases(assign_all):
    gen = torch.Generator().manual_seed(0)
    priors = torch.cat(AnchorGenerator([8, 16], [0.5, 1., 2.], scales=[2, 4]).grid_priors(
        [(8, 8), (4, 4)]))
    assigner = MaxIoUAssigner(0.5, 0.4, min_pos_iou=0.1, gt_max_assign_all=assign_all)
    boxes, labels = [], []
    for count in (6, 0, 3, 9):
        xy = torch.randint(0, 48, (count, 2), generator=gen).float()
        wh = torch.randint(4, 40, (count, 2), generator=gen).float()
        b = torch.cat([xy, xy + wh], dim=1)
        if count >= 6:
            b[count - 1] = b[0]            # an exact duplicate: the later gt must win
        boxes.append(b)
        labels.append(torch.randint(0, 5, (count,), generator=gen))
    result = assigner.assign(priors, [len(priors)], *_pad(boxes, labels))
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        inds, out_labels = _loop_assign(priors, b, lab, assigner)
        assert torch.equal(result.gt_inds[i], inds)
        assert torch.equal(result.labels[i], out_labels)
    # gt 5 duplicates gt 0: the later gt takes gt 0's best prior in the low-quality step
    best_iou, best_prior = bbox_overlaps(boxes[0][:1], priors)[0].max(dim=0)
    assert best_iou >= 0.1 and result.gt_inds[0, best_prior] == 6


def test_later_gt_wins_a_tie_and_min_pos_iou_gates_low_quality():
    priors = torch.tensor([[0., 0., 10., 10.], [100., 100., 110., 110.]])
    gts = torch.tensor([[[0., 0., 20., 10.], [0., 0., 10., 20.], [200., 200., 201., 201.]]])
    labels = torch.tensor([[3, 4, 5]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    result = MaxIoUAssigner(0.6, 0.3, min_pos_iou=0.5).assign(priors, [len(priors)],
                                                              gts, labels, valid)
    # both gts have IoU 0.5 with prior 0: below pos_iou_thr, taken by the low-quality step
    assert result.gt_inds.tolist() == [[2, 0]]
    assert result.labels.tolist() == [[4, -1]]
    assert result.max_overlaps.tolist() == [[0.5, 0.0]]
    strict = MaxIoUAssigner(0.6, 0.3, min_pos_iou=0.51).assign(priors, [len(priors)],
                                                               gts, labels, valid)
    assert strict.gt_inds.tolist() == [[-1, 0]]   # 0.5 is in [0.3, 0.6): ignored
    no_low = MaxIoUAssigner(0.6, 0.3, match_low_quality=False).assign(priors, [len(priors)],
                                                                      gts, labels, valid)
    assert no_low.gt_inds.tolist() == [[-1, 0]]


def test_ignore_regions():
    priors = torch.tensor([[0., 0., 10., 10.], [20., 0., 30., 10.], [40., 0., 50., 10.],
                           [60., 0., 70., 10.]])
    gts = torch.tensor([[[0., 0., 10., 10.]], [[0., 0., 10., 10.]]])
    labels = torch.tensor([[1], [1]])
    gt_valid = torch.tensor([[True], [False]])     # image 1 has no gt
    # region 0 covers prior 1 fully and prior 2 by 40%; region 1 (padding) would cover prior 3
    ignore = torch.tensor([[[18., 0., 44., 10.], [60., 0., 70., 10.]]]).repeat(2, 1, 1)
    ignore_valid = torch.tensor([[True, False], [True, False]])
    assigner = MaxIoUAssigner(0.5, 0.4, ignore_iof_thr=0.5)
    result = assigner.assign(priors, [len(priors)], gts, labels, gt_valid, ignore_bboxes=ignore,
                             ignore_valid=ignore_valid)
    assert result.gt_inds.tolist() == [[1, -1, 0, 0], [0, 0, 0, 0]]
    assert result.max_overlaps[0].tolist() == [1.0, -1.0, 0.0, 0.0]
    assert result.max_overlaps[1].tolist() == [0.0] * 4
    # IoF relative to the region instead: prior 1 covers 10/26 of region 0, prior 2 4/26
    wrt_region = MaxIoUAssigner(0.5, 0.4, ignore_iof_thr=0.35, ignore_wrt_candidates=False)
    out = wrt_region.assign(priors, [len(priors)], gts, labels, gt_valid, ignore_bboxes=ignore,
                            ignore_valid=ignore_valid)
    assert out.gt_inds[0].tolist() == [1, -1, 0, 0]
    off = MaxIoUAssigner(0.5, 0.4).assign(priors, [len(priors)],
                                          gts, labels, gt_valid, ignore_bboxes=ignore)
    assert off.gt_inds[0].tolist() == [1, 0, 0, 0]


def test_low_quality_step_can_take_ignored_priors():
    priors = torch.tensor([[0., 0., 10., 10.], [30., 0., 40., 10.]])
    gts = torch.tensor([[[0., 0., 10., 10.]]])
    ignore = torch.tensor([[[-2., 0., 42., 10.]]])
    args = (priors, [len(priors)], gts, torch.tensor([[0]]), torch.ones(1, 1, dtype=torch.bool))
    # every prior is ignored, so the gt's best IoU is -1: MMDetection's low-quality step
    # still hands both tied priors to it when min_pos_iou allows -1
    loose = MaxIoUAssigner(0.5, 0.4, min_pos_iou=-1, ignore_iof_thr=0.5)
    assert loose.assign(*args, ignore_bboxes=ignore).gt_inds.tolist() == [[1, 1]]
    strict = MaxIoUAssigner(0.5, 0.4, ignore_iof_thr=0.5)
    assert strict.assign(*args, ignore_bboxes=ignore).gt_inds.tolist() == [[-1, -1]]


def test_batch_without_gts_or_priors():
    priors = torch.tensor([[0., 0., 10., 10.], [5., 5., 20., 20.], [1., 1., 2., 2.]])
    prior_valid = torch.tensor([[True, False, True], [True, True, True]])
    assigner = MaxIoUAssigner(0.5, 0.4)
    out = assigner.assign(priors, [len(priors)],
                          torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.long),
                          torch.zeros(2, 0, dtype=torch.bool), prior_valid=prior_valid)
    assert out.gt_inds.tolist() == [[0, -1, 0], [0, 0, 0]]
    assert out.labels.tolist() == [[-1] * 3] * 2
    assert out.max_overlaps.tolist() == [[0.0] * 3] * 2
    assert out.num_gts.tolist() == [0, 0]
    padded_only = assigner.assign(priors, [len(priors)],
                                  torch.ones(2, 3, 4), torch.zeros(2, 3, dtype=torch.long),
                                  torch.zeros(2, 3, dtype=torch.bool))
    assert padded_only.gt_inds.tolist() == [[0] * 3] * 2
    none = assigner.assign(torch.zeros(0, 4), [0], torch.ones(2, 3, 4),
                           torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    assert none.gt_inds.shape == (2, 0) and none.num_gts.tolist() == [3, 3]


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'MaxIoUAssigner pos_iou_thr \(0.3\) must not be below'):
        MaxIoUAssigner(pos_iou_thr=0.3, neg_iou_thr=0.4)
    with pytest.raises(ValueError, match='MaxIoUAssigner neg_iou_thr .* lo <= hi'):
        MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=(0.3, 0.1))
    with pytest.raises(ValueError, match=r'gt_labels and gt_valid of shape \(1, 2\)'):
        MaxIoUAssigner(0.5, 0.4).assign(torch.zeros(3, 4), [3], torch.zeros(1, 2, 4),
                                        torch.zeros(1, 3, dtype=torch.long),
                                        torch.ones(1, 2, dtype=torch.bool))


def test_negative_range_pair():
    priors = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 60.], [50., 50., 60., 60.]])
    gts = torch.tensor([[[0., 0., 10., 20.]]])
    out = MaxIoUAssigner(0.6, (0.1, 0.4), match_low_quality=False).assign(
        priors, [len(priors)], gts, torch.tensor([[2]]), torch.ones(1, 1, dtype=torch.bool))
    # IoUs 0.5 (ignored), 1/3 (in [0.1, 0.4): negative), 0.0 (below the range: ignored)
    assert out.gt_inds.tolist() == [[-1, 0, -1]]
