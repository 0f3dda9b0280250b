import pytest
import torch

from detkit.structures import bbox_overlaps, cxcywh_to_xyxy, xyxy_to_cxcywh


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
