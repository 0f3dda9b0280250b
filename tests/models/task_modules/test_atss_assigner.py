import pytest
import torch

from detkit.models.task_modules import AnchorGenerator, ATSSAssigner, AssignResult
from detkit.models.task_modules.assigners.atss_assigner import INF, centre_distances
from detkit.registry import TASK_UTILS
from detkit.structures import bbox_overlaps
from detkit.structures.bbox import aligned_iou

ATSS_ANCHORS = dict(strides=[8, 16, 32, 64, 128], ratios=[1.0], octave_base_scale=8,
                    scales_per_octave=1)
SIZES = [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
LEVELS = [1536, 384, 96, 24, 6]


@pytest.fixture(scope='module')
def ref(load_ref):
    return load_ref('atss_assigner')


def _pad(boxes_per_image, labels_per_image, num_slots=None):
    """Stack per-image gts into [B, G, 4], [B, G], [B, G]; junk boxes in the padding."""
    counts = torch.tensor([len(b) for b in boxes_per_image])
    valid = torch.arange(num_slots or int(counts.max())) < counts[:, None]
    boxes = torch.tensor([100., 100., 180., 170.]).expand(*valid.shape, 4).clone()
    boxes[valid] = torch.cat(list(boxes_per_image))
    labels = torch.full(valid.shape, 3)
    labels[valid] = torch.cat(list(labels_per_image))
    return boxes, labels, valid


def _loop_assign(priors, levels, gts, labels, topk, ignore=None, ignore_iof_thr=-1):
    """MMDetection's per-image algorithm, written plainly: loops over levels and gts."""
    num_priors = priors.size(0)
    gt_inds = torch.zeros(num_priors, dtype=torch.long)
    if len(gts) == 0:
        return gt_inds, torch.full((num_priors,), -1)
    ious = bbox_overlaps(priors, gts)  # [N, G]
    ctr = (priors[:, :2] + priors[:, 2:]) / 2
    dist = torch.cdist(ctr.double(), ((gts[:, :2] + gts[:, 2:]) / 2).double())
    if ignore is not None and len(ignore) and ignore_iof_thr > 0:
        ignored = bbox_overlaps(priors, ignore, mode='iof').max(dim=1).values > ignore_iof_thr
        dist[ignored] = INF
        gt_inds[ignored] = -1
    best = torch.full((num_priors,), -INF)
    for g in range(len(gts)):
        candidates, start = [], 0
        for size in levels:
            order = dist[start:start + size, g].argsort(stable=True)
            candidates.append(order[:topk] + start)
            start += size
        candidates = torch.cat(candidates)
        cand_ious = ious[candidates, g]
        thr = cand_ious.mean() + cand_ious.std()
        for p, iou in zip(candidates.tolist(), cand_ious.tolist()):
            x1, y1, x2, y2 = gts[g].tolist()
            cx, cy = ctr[p].tolist()
            inside = min(cx - x1, cy - y1, x2 - cx, y2 - cy) > 0.01
            if iou >= thr and inside and iou > best[p]:
                best[p], gt_inds[p] = iou, g + 1
    return gt_inds, torch.where(gt_inds > 0, labels[(gt_inds - 1).clamp(min=0)], -1)


def test_matches_mmdetection_reference(ref):
    assigner = TASK_UTILS.build(dict(type='ATSSAssigner', topk=9))
    gts, labels, valid = _pad(ref['inputs']['gt_bboxes'], ref['inputs']['gt_labels'])
    result = assigner.assign(ref['inputs']['anchors'], ref['inputs']['num_level_priors'], gts,
                             labels, valid)
    assert isinstance(result, AssignResult)
    assert result.gt_inds.shape == (2, 2046) and result.gt_inds.dtype == torch.long
    assert torch.equal(result.gt_inds, torch.stack(ref['outputs']['gt_inds']).long())
    assert torch.equal(result.labels, torch.stack(ref['outputs']['labels']).long())
    # the IoUs of positives, -INF elsewhere, 0 without gts: equal to the bit
    assert torch.equal(result.max_overlaps, torch.stack(ref['outputs']['max_overlaps']))
    assert result.num_gts.tolist() == [7, 0]
    per_gt = torch.bincount(result.gt_inds[0][result.gt_inds[0] > 0] - 1)
    assert per_gt.tolist() == [9, 15, 8, 4, 9, 1, 8]
    shared = ref['meta']['multi_pos_anchors'][0]
    assert result.gt_inds[0, shared] in (1, 7)


def test_candidates_and_thresholds_match_the_reference(ref):
    detail = ref['outputs']['detail_image0']
    assigner = ATSSAssigner(topk=9)
    gts = ref['inputs']['gt_bboxes'][0][None]
    priors = ref['inputs']['anchors']
    candidates, valid = assigner.select_candidates(priors, LEVELS, gts)
    assert candidates.shape == (1, 7, 42) and bool(valid.all())
    # the reference sorts each level's block by index; the order within a block is free
    order = torch.cat([b.sort(dim=-1).indices + i * 9
                       for i, b in enumerate(candidates[0].split([9, 9, 9, 9, 6], dim=-1))],
                      dim=-1)
    candidates = candidates[0].gather(1, order)
    assert torch.equal(candidates.T, detail['candidates'])
    # pairwise IoUs of the candidates only: MMDetection's IoU matrix entries, to the bit
    candidate_ious = aligned_iou(priors[candidates], gts[0][:, None, :])  # [G, C]
    assert torch.equal(candidate_ious.T, detail['candidate_ious'])
    thresholds = assigner.iou_thresholds(candidate_ious[None], valid)[0]
    torch.testing.assert_close(thresholds, detail['iou_thr'], rtol=1e-5, atol=1e-6)
    assert thresholds.tolist() == pytest.approx(
        [0.4956, 0.4569, 0.4654, 0.0459, 0.2461, 0.0148, 0.4627], abs=1e-4)


def test_centre_distances_are_mmdetections():
    gts = torch.tensor([[[10.5, 3.25, 40., 60.75]]])
    priors = torch.tensor([[0., 0., 8., 8.], [100., 20., 132., 52.]])
    centres = (priors[:, :2] + priors[:, 2:]) / 2
    gt_centre = (gts[0, :, :2] + gts[0, :, 2:]) / 2
    expected = (centres[:, None, :] - gt_centre[None]).pow(2).sum(-1).sqrt()  # mmdet's [N, G]
    assert torch.equal(centre_distances(gts, priors)[0].T, expected)


def test_the_std_is_the_unbiased_one():
    ious = torch.tensor([[[0.1, 0.2, 0.6, 0.9]]])
    expected = ious.mean() + ious.std()  # divides by n - 1
    thr = ATSSAssigner.iou_thresholds(ious, torch.ones_like(ious, dtype=torch.bool))
    assert thr.item() == pytest.approx(expected.item(), rel=1e-6)
    # a masked-out candidate counts in neither the mean nor the std
    masked = torch.tensor([[[True, True, False, True]]])
    kept = torch.tensor([0.1, 0.2, 0.9])
    assert ATSSAssigner.iou_thresholds(ious, masked).item() == pytest.approx(
        (kept.mean() + kept.std()).item(), rel=1e-6)


def test_invalid_priors_match_the_head_reference(load_ref):
    """ATSS head data: image 1 is padded to 224x320 in a 256x384 batch; its outside anchors
    take no part (gt_inds -1) and the assignment of the rest is mmdet's."""
    head = load_ref('atss_head')
    gen = AnchorGenerator(**ATSS_ANCHORS)
    priors = torch.cat(gen.grid_priors(SIZES))
    pad_shapes = [m['pad_shape'] for m in head['inputs']['img_metas']]
    prior_valid = gen.batch_valid_flags(SIZES, pad_shapes)
    gts, labels, valid = _pad(head['inputs']['gt_bboxes'], head['inputs']['gt_labels'])
    result = ATSSAssigner(9).assign(priors, LEVELS, gts, labels, valid, prior_valid=prior_valid)
    assert torch.equal(result.gt_inds, torch.stack(head['outputs']['targets']['gt_inds']).long())
    assert int((result.gt_inds[1] == -1).sum()) == 2046 - 1496
    assert (result.max_overlaps[1][~prior_valid[1]] == 0).all()


def test_invalid_priors_are_as_if_removed_even_below_topk_per_level():
    """A level with fewer valid priors than topk gives fewer candidates, as mmdet does
    after removing the anchors outside the image."""
    gen = AnchorGenerator(strides=[8, 16, 32], ratios=[1.0], octave_base_scale=4,
                          scales_per_octave=1)
    sizes = [(8, 8), (4, 4), (2, 2)]
    levels = [64, 16, 4]
    priors = torch.cat(gen.grid_priors(sizes))
    prior_valid = gen.batch_valid_flags(sizes, [(30, 48), (64, 64)])
    assert int(prior_valid[0, 80:].sum()) == 2  # P5: fewer than topk=3
    # no distance ties: the order of equal distances is not specified
    gts, labels, valid = _pad([torch.tensor([[3.3, 4.1, 30.7, 36.9], [20.2, 10.6, 46.1, 22.3]]),
                               torch.tensor([[10.4, 12.2, 50.9, 60.3]])],
                              [torch.tensor([0, 1]), torch.tensor([2])])
    assigner = ATSSAssigner(topk=3)
    result = assigner.assign(priors, levels, gts, labels, valid, prior_valid=prior_valid)
    for img in range(2):
        keep = prior_valid[img]
        sub_levels = [int(k.sum()) for k in keep.split(levels)]
        inds, labs = _loop_assign(priors[keep], sub_levels, gts[img, valid[img]],
                                  labels[img, valid[img]], topk=3)
        assert torch.equal(result.gt_inds[img, keep], inds)
        assert torch.equal(result.labels[img, keep], labs)
        assert (result.gt_inds[img, ~keep] == -1).all()
    assert (result.gt_inds > 0).sum() > 0


def test_random_batches_match_the_plain_loop_padding_and_order_free():
    gen = torch.Generator().manual_seed(0)
    sizes = [(12, 12), (6, 6), (3, 3)]
    levels = [144, 36, 9]
    priors = torch.cat(AnchorGenerator(strides=[8, 16, 32], ratios=[1.0], octave_base_scale=6,
                                       scales_per_octave=1).grid_priors(sizes))
    boxes, labels = [], []
    for count in (5, 0, 3, 8):
        xy = torch.rand(count, 2, generator=gen) * 80
        wh = torch.rand(count, 2, generator=gen) * 54 + 6
        b = torch.cat([xy, xy + wh], dim=1)
        if count >= 5:
            b[count - 1] = b[0]  # an exact duplicate: equal IoUs, the first gt wins
        boxes.append(b)
        labels.append(torch.randint(0, 4, (count,), generator=gen))
    assigner = ATSSAssigner(topk=5)
    tight = assigner.assign(priors, levels, *_pad(boxes, labels))
    for img, (b, lab) in enumerate(zip(boxes, labels)):
        inds, labs = _loop_assign(priors, levels, b, lab, topk=5)
        assert torch.equal(tight.gt_inds[img], inds), img
        assert torch.equal(tight.labels[img], labs), img
    loose = assigner.assign(priors, levels, *_pad(boxes[::-1], labels[::-1], num_slots=11))
    assert torch.equal(loose.gt_inds.flip(0), tight.gt_inds)
    assert torch.equal(loose.max_overlaps.flip(0), tight.max_overlaps)
    assert not (tight.gt_inds[0] == 5).any()  # the duplicate gt loses every tie
    assert int((tight.gt_inds > 0).sum()) > 20


def test_ignore_regions():
    gen = AnchorGenerator(strides=[8, 16], ratios=[1.0], octave_base_scale=4, scales_per_octave=1)
    sizes, levels = [(8, 8), (4, 4)], [64, 16]
    priors = torch.cat(gen.grid_priors(sizes))
    gts, labels, valid = _pad([torch.tensor([[4.3, 4.7, 40.1, 36.6]])], [torch.tensor([1])])
    ignore = torch.tensor([[[24., 0., 64., 64.], [0., 0., 1., 1.]]])
    ignore_valid = torch.tensor([[True, False]])
    assigner = ATSSAssigner(topk=4, ignore_iof_thr=0.5)
    result = assigner.assign(priors, levels, gts, labels, valid, ignore_bboxes=ignore,
                             ignore_valid=ignore_valid)
    inds, _ = _loop_assign(priors, levels, gts[0], labels[0], 4, ignore[0, :1], 0.5)
    assert torch.equal(result.gt_inds[0], inds)
    assert (result.gt_inds[0] == -1).sum() > 0 and (result.gt_inds[0] == 1).sum() > 0
    # the padded ignore box covers prior 0 completely but must not ignore it
    assert result.gt_inds[0, 0] != -1
    plain = ATSSAssigner(topk=4).assign(priors, levels, gts, labels, valid,
                                        ignore_bboxes=ignore, ignore_valid=ignore_valid)
    assert (plain.gt_inds >= 0).all()


def test_no_gts_anywhere():
    priors = torch.tensor([[0., 0., 8., 8.], [8., 0., 16., 8.]])
    result = ATSSAssigner().assign(priors, [2], torch.zeros(2, 0, 4),
                                   torch.zeros(2, 0, dtype=torch.long),
                                   torch.zeros(2, 0, dtype=torch.bool),
                                   prior_valid=torch.tensor([[True, False], [True, True]]))
    assert result.gt_inds.tolist() == [[0, -1], [0, 0]]
    assert result.labels.tolist() == [[-1, -1], [-1, -1]]
    assert result.max_overlaps.tolist() == [[0., 0.], [0., 0.]]


def test_bad_inputs_are_named():
    priors = torch.zeros(10, 4)
    gts, labels, valid = torch.zeros(1, 1, 4), torch.zeros(1, 1, dtype=torch.long), \
        torch.ones(1, 1, dtype=torch.bool)
    with pytest.raises(ValueError, match=r'num_level_priors \[4, 4\] sum to 8, but there are 10'):
        ATSSAssigner().assign(priors, [4, 4], gts, labels, valid)
    with pytest.raises(ValueError, match=r'prior_valid of shape \(1, 10\)'):
        ATSSAssigner().assign(priors, [10], gts, labels, valid,
                              prior_valid=torch.ones(10, dtype=torch.bool))
    with pytest.raises(ValueError, match='topk must be a positive integer'):
        ATSSAssigner(topk=0)
    assert repr(ATSSAssigner()) == 'ATSSAssigner(topk=9, ignore_iof_thr=-1)'
