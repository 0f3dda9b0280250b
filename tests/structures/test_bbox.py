import pytest
import torch

from detkit.structures import bbox_overlaps, cxcywh_to_xyxy, xyxy_to_cxcywh
from detkit.structures.bbox import centerness_target, clip_bboxes


def test_iou_of_hand_computed_pairs():
    boxes1 = torch.tensor([[0., 0., 10., 10.], [4., 4., 6., 8.]])
    boxes2 = torch.tensor([[5., 5., 15., 15.], [20., 20., 30., 30.], [0., 0., 10., 10.]])
    expected = torch.tensor([[25 / 175, 0., 1.],
                             [3 / 105, 0., 8 / 100]])
    assert torch.allclose(bbox_overlaps(boxes1, boxes2), expected, rtol=1e-6, atol=0)


def test_iof_divides_by_the_area_of_the_first_boxes():
    boxes1 = torch.tensor([[0., 0., 10., 10.], [4., 4., 6., 6.]])
    boxes2 = torch.tensor([[5., 5., 15., 15.]])
    expected = torch.tensor([[25 / 100], [1 / 4]])
    assert torch.allclose(bbox_overlaps(boxes1, boxes2, mode='iof'), expected, rtol=1e-6)


def test_degenerate_boxes_hit_the_eps_floor_not_nan():
    point = torch.tensor([[3., 3., 3., 3.]])
    out = bbox_overlaps(point, point)
    assert out.item() == 0.0
    assert bbox_overlaps(point, point, mode='iof').item() == 0.0
    # a tiny but positive union is floored at eps=1e-6: 1e-8 / 1e-6
    tiny = torch.tensor([[0., 0., 1e-4, 1e-4]], dtype=torch.float64)
    assert bbox_overlaps(tiny, tiny).item() == pytest.approx(1e-2, rel=1e-9)


def test_leading_batch_dims_broadcast():
    gts = torch.tensor([[[0., 0., 10., 10.]], [[0., 0., 5., 10.]]])      # [2, 1, 4]
    priors = torch.tensor([[[0., 0., 10., 10.], [0., 0., 20., 10.]]])    # [1, 2, 4]
    out = bbox_overlaps(gts, priors)
    assert out.shape == (2, 1, 2)
    assert torch.allclose(out, torch.tensor([[[1.0, 0.5]], [[0.5, 0.25]]]))


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="'iou' or 'iof'"):
        bbox_overlaps(torch.zeros(1, 4), torch.zeros(1, 4), mode='giou')


def test_cxcywh_round_trip_and_values():
    xyxy = torch.tensor([[1., 2., 5., 10.]])
    assert xyxy_to_cxcywh(xyxy).tolist() == [[3., 6., 4., 8.]]
    assert torch.equal(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)


def test_clip_bboxes_one_shape_or_per_image():
    boxes = torch.tensor([[[-5., 2., 120., 90.]], [[10., -1., 40., 300.]]])
    assert clip_bboxes(boxes, (80, 100)).tolist() == [[[0., 2., 100., 80.]],
                                                      [[10., 0., 40., 80.]]]
    per_image = clip_bboxes(boxes, torch.tensor([[80, 100], [200, 30]]))
    assert per_image.tolist() == [[[0., 2., 100., 80.]], [[10., 0., 30., 200.]]]
    with pytest.raises(ValueError, match=r'clip_bboxes: a \[B, 2\] max_shape needs'):
        clip_bboxes(boxes[0], torch.tensor([[80, 100], [200, 30]]))


def test_centerness_target_values_and_reference(load_ref):
    distances = torch.tensor([[5., 5., 5., 5.], [2., 4., 8., 4.], [1., 9., 1., 1.]])
    assert centerness_target(distances).tolist() == pytest.approx(
        [1.0, 0.5, (1 / 9) ** 0.5], rel=1e-6)
    targets = load_ref('fcos_head')['outputs']['targets']
    for dist, expected in zip(targets['pos_bbox_targets'], targets['centerness_targets']):
        torch.testing.assert_close(centerness_target(dist), expected, rtol=1e-5, atol=1e-6)
    assert centerness_target(torch.zeros(0, 4)).shape == (0,)


def test_centerness_target_is_finite_outside_the_box():
    """A fixed-shape head computes it for every prior and keeps the positives."""
    outside = torch.tensor([[-3., 2., 10., 5.], [0., 0., 0., 0.], [-1., -2., 4., 6.]])
    values = centerness_target(outside)
    assert torch.isfinite(values).all() and (values >= 0).all()
