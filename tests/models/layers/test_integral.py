import pytest
import torch

from detkit.models.layers import Integral
from detkit.models.task_modules import AnchorGenerator, DistancePointBBoxCoder
from detkit.registry import MODELS

CLOSE = dict(rtol=1e-5, atol=1e-6)


def test_matches_mmdetection(load_ref):
    ref = load_ref('gfl_losses')
    integral = MODELS.build(dict(type='Integral', reg_max=16))
    assert torch.equal(integral.project, ref['outputs']['integral']['project'])
    assert list(integral.state_dict()) == ['project']
    out = integral(ref['inputs']['integral_x'])
    assert out.shape == (64, 4)
    torch.testing.assert_close(out, ref['outputs']['integral']['out'], **CLOSE)
    assert out[0].tolist() == pytest.approx([8.0] * 4)  # a uniform row: the middle bin
    assert out[1, :2].tolist() == pytest.approx([0.0, 16.0], abs=1e-4)


def test_leading_dims_are_kept():
    x = torch.randn(2, 5, 4 * 9, generator=torch.Generator().manual_seed(0))
    integral = Integral(reg_max=8)
    out = integral(x)
    assert out.shape == (2, 5, 4)
    expected = (x.view(2, 5, 4, 9).softmax(-1) * torch.arange(9.)).sum(-1)
    torch.testing.assert_close(out, expected, **CLOSE)


def test_decodes_the_gfl_head_positives(load_ref):
    """GFLHead: pos_decode_bbox_pred = anchor centre / stride -/+ Integral(logits)."""
    head = load_ref('gfl_head')
    targets = head['outputs']['targets']
    gen = AnchorGenerator(strides=[8, 16, 32, 64, 128], ratios=[1.0], octave_base_scale=8,
                          scales_per_octave=1)
    anchors = gen.grid_priors([(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)])
    integral = Integral(16)
    for level, stride in enumerate((8, 16, 32)):
        preds = head['outputs']['bbox_preds'][level]
        index = targets['pos_index'][level]
        logits = preds.permute(0, 2, 3, 1).reshape(-1, 68)[index]
        level_anchors = anchors[level][index % anchors[level].size(0)]
        centres = (level_anchors[:, :2] + level_anchors[:, 2:]) / 2 / stride
        boxes = DistancePointBBoxCoder().decode(centres, integral(logits))
        torch.testing.assert_close(boxes, targets['pos_decode_bbox_pred'][level],
                                   rtol=1e-5, atol=1e-5)


def test_checkpoint_round_trip_and_errors():
    integral = Integral(16)
    integral.load_state_dict({'project': torch.linspace(0, 16, 17)}, strict=True)
    with pytest.raises(ValueError, match=r'Integral\(reg_max=16\) expects \[..., 68\] logits'):
        integral(torch.zeros(3, 64))
    with pytest.raises(ValueError, match='reg_max must be a positive integer'):
        Integral(reg_max=0)
