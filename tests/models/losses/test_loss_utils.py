import pytest
import torch

from detkit.models import losses
from detkit.models.losses import weight_reduce_loss
from detkit.registry import MODELS

EPS = torch.finfo(torch.float32).eps


def test_reductions_without_avg_factor():
    loss = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    weight = torch.tensor([[1.0], [0.0]])
    assert torch.equal(weight_reduce_loss(loss, weight, 'none'),
                       torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    assert weight_reduce_loss(loss, weight, 'mean').item() == 0.75     # over all 4 elements
    assert weight_reduce_loss(loss, weight, 'sum').item() == 3.0
    assert weight_reduce_loss(loss).item() == 2.5


def test_avg_factor_rules():
    loss = torch.tensor([1.0, 2.0, 3.0])
    out = weight_reduce_loss(loss, reduction='mean', avg_factor=4)
    assert out.item() == pytest.approx(6.0 / (4 + EPS), rel=1e-7)
    assert weight_reduce_loss(torch.zeros(3), avg_factor=0).item() == 0.0   # no NaN
    tensor_factor = weight_reduce_loss(loss, avg_factor=torch.tensor(4.0))
    assert tensor_factor.item() == pytest.approx(1.5, rel=1e-6)
    assert torch.equal(weight_reduce_loss(loss, reduction='none', avg_factor=4), loss)
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"'):
        weight_reduce_loss(loss, reduction='sum', avg_factor=4)


@pytest.mark.parametrize('name', ['FocalLoss', 'L1Loss', 'SmoothL1Loss', 'GIoULoss',
                                  'CrossEntropyLoss', 'VarifocalLoss'])
def test_every_loss_is_registered_exported_and_checks_reduction(name):
    assert name in losses.__all__
    built = MODELS.build(dict(type=name, loss_weight=0.5, reduction='sum'))
    assert type(built) is getattr(losses, name)
    assert built.loss_weight == 0.5 and built.reduction == 'sum'
    with pytest.raises(ValueError, match=f"{name} reduction must be 'none', 'mean' or 'sum', "
                                         f"got 'average'"):
        MODELS.build(dict(type=name, reduction='average'))
