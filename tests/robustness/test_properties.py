"""Property tests (hypothesis) of the box maths: coder, IoU, assigner, NMS."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from detkit.models.layers.nms import batched_class_nms
from detkit.models.task_modules import DeltaXYWHBBoxCoder, MaxIoUAssigner
from detkit.structures import bbox_overlaps

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def boxes(draw, min_n=1, max_n=12, size=512.0):
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = 1.0 + torch.rand(n, 2, generator=g) * size / 2
    return torch.cat([xy, xy + wh], dim=1)


@SETTINGS
@given(boxes(), boxes())
def test_coder_round_trip(anchors, gts):
    n = min(len(anchors), len(gts))
    anchors, gts = anchors[:n], gts[:n]
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    # log(1000/16) bounds the size ratio the coder can express
    ratio = (gts[:, 2:] - gts[:, :2]) / (anchors[:, 2:] - anchors[:, :2])
    keep = ((ratio.log().abs()) < 4.0).all(1)
    decoded = coder.decode(anchors[keep], coder.encode(anchors[keep], gts[keep]))
    torch.testing.assert_close(decoded, gts[keep], rtol=1e-4, atol=1e-2)


@SETTINGS
@given(boxes(), boxes())
def test_iou_is_symmetric_bounded_and_one_on_itself(a, b):
    ab, ba = bbox_overlaps(a, b), bbox_overlaps(b, a)
    torch.testing.assert_close(ab, ba.T)
    assert (ab >= 0).all() and (ab <= 1 + 1e-6).all()
    torch.testing.assert_close(bbox_overlaps(a, a).diagonal(), torch.ones(len(a)))


@SETTINGS
@given(boxes(min_n=1, max_n=6, size=200.0), boxes(min_n=20, max_n=120, size=256.0))
def test_assigner_invariants(gts, priors):
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0.0)
    res = assigner.assign(priors, [len(priors)], gts[None], torch.zeros(1, len(gts), dtype=torch.long),
                          torch.ones(1, len(gts), dtype=torch.bool))
    ious = bbox_overlaps(gts, priors)
    gt_inds, max_ious = res.gt_inds[0], ious.max(0).values
    pos, neg, ign = gt_inds > 0, gt_inds == 0, gt_inds == -1
    assert not (pos & neg).any()
    assert (pos | neg | ign).all()
    # every gt that overlaps any prior gets at least one positive, unless (MMDetection's
    # rule, "later gts win") each of its best priors went to a later gt's low-quality match
    for g in range(len(gts)):
        if ious[g].max() > 0 and not (gt_inds == g + 1).any():
            best = ious[g] == ious[g].max()
            assert (gt_inds[best] > g + 1).all()
    # ignored exactly in [neg_iou_thr, pos_iou_thr) (and not taken by a low-quality match)
    assert ((max_ious[ign] >= 0.4) & (max_ious[ign] < 0.5)).all()
    assert (max_ious[neg] < 0.4).all()


@SETTINGS
@given(boxes(min_n=2, max_n=60, size=300.0), st.integers(0, 2**31 - 1),
       st.floats(0.3, 0.7))
def test_nms_keeps_no_overlapping_pair_within_a_class(bxs, seed, thr):
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(len(bxs), generator=g)
    labels = torch.randint(0, 3, (len(bxs),), generator=g)
    keep = batched_class_nms(bxs, scores, labels, thr)
    assert (scores[keep][:-1] >= scores[keep][1:]).all()
    for c in labels[keep].unique():
        kept = bxs[keep][labels[keep] == c]
        iou = bbox_overlaps(kept, kept).fill_diagonal_(0)
        assert (iou <= thr + 1e-6).all()
