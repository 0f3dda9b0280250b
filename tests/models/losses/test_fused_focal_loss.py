"""The fused focal loss gives the generic path's loss and gradient (it replaces it silently)."""
import pytest
import torch

from detkit.models.losses import focal_loss as fl
from detkit.models.losses.fused_focal_loss import fused_path_applies, fused_sigmoid_focal_loss


def _generic(pred, labels, weight, gamma, alpha, reduction, avg_factor):
    return fl._focal_loss(pred, labels, weight, gamma, alpha, reduction, avg_factor, False)


def _inputs(n=300, k=7, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, k, generator=gen, dtype=dtype) * 4 - 2
    pred[0, :] = torch.tensor([-100., -30., 0., 15., 30., 90., 100.], dtype=dtype)[:k]
    labels = torch.randint(0, k + 1, (n,), generator=gen)
    labels[0] = 3  # a positive among the extreme logits
    weight = (torch.rand(n, generator=gen) > 0.1).to(dtype)
    return pred, labels, weight


@pytest.mark.parametrize('gamma', [0.0, 1.5, 2.0])
@pytest.mark.parametrize('use_weight', [True, False])
@pytest.mark.parametrize('reduction,avg_factor', [('mean', 37.0), ('mean', None), ('sum', None)])
def test_same_loss_and_gradient_as_the_generic_path(gamma, use_weight, reduction, avg_factor):
    pred, labels, weight = _inputs()
    weight = weight if use_weight else None
    ref_pred = pred.clone().requires_grad_()
    ref = _generic(ref_pred, labels, weight, gamma, 0.25, reduction, avg_factor)
    ref.backward()
    new_pred = pred.clone().requires_grad_()
    new = fused_sigmoid_focal_loss(new_pred, labels, weight, gamma, 0.25, reduction, avg_factor)
    new.backward()
    torch.testing.assert_close(new, ref, rtol=1e-6, atol=0)
    # float32 rounding of O(1) terms; with gamma=0 autograd forms p as 1 - (1 - p) and is
    # the less exact of the two for small p
    torch.testing.assert_close(new_pred.grad, ref_pred.grad, rtol=1e-5,
                               atol=torch.finfo(torch.float32).eps)


def test_analytic_gradient_matches_finite_differences():
    pred, labels, weight = _inputs(n=20, k=4, dtype=torch.float64)
    pred = pred.clamp(-8, 8)
    x = pred.clone().requires_grad_()
    fused_sigmoid_focal_loss(x, labels, weight, 2.0, 0.25, 'mean', 5.0).backward()
    eps = 1e-6
    numeric = torch.zeros_like(pred)
    for idx in range(pred.numel()):
        delta = torch.zeros(pred.numel(), dtype=pred.dtype)
        delta[idx] = eps
        delta = delta.view_as(pred)
        up = fused_sigmoid_focal_loss(pred + delta, labels, weight, 2.0, 0.25, 'mean', 5.0)
        down = fused_sigmoid_focal_loss(pred - delta, labels, weight, 2.0, 0.25, 'mean', 5.0)
        numeric.view(-1)[idx] = (up - down) / (2 * eps)
    torch.testing.assert_close(x.grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('rows_per_chunk', [1, 7, 1000])
def test_chunking_of_rows_does_not_change_the_numbers(monkeypatch, rows_per_chunk):
    from detkit.models.losses import fused_focal_loss as ffl
    pred, labels, weight = _inputs(n=300, k=7)
    x = pred.clone().requires_grad_()
    ref = fused_sigmoid_focal_loss(x, labels, weight, avg_factor=9.0)
    ref.backward()
    monkeypatch.setattr(ffl, 'CPU_CHUNK_ELEMENTS', rows_per_chunk * 7)
    y = pred.clone().requires_grad_()
    got = fused_sigmoid_focal_loss(y, labels, weight, avg_factor=9.0)
    got.backward()
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=0)
    # short chunks run the scalar tails of the vectorised kernels: last-bit differences
    torch.testing.assert_close(y.grad, x.grad, rtol=1e-6, atol=1e-12)


def test_a_second_backward_is_refused_with_an_explanation():
    pred, labels, weight = _inputs()
    pred.requires_grad_()
    loss = fused_sigmoid_focal_loss(pred, labels, weight, avg_factor=10.0)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='backpropagated once'):
        loss.backward()


def test_sigmoid_focal_loss_takes_the_fused_path_only_where_it_applies():
    pred, labels, weight = _inputs(n=10, k=3)
    assert fused_path_applies(pred, labels, weight, 'mean')
    assert not fused_path_applies(pred, labels, weight, 'none')
    assert not fused_path_applies(pred, torch.rand(10, 3), weight, 'mean')  # soft targets
    assert not fused_path_applies(pred.half(), labels, weight, 'mean')
    assert not fused_path_applies(pred, labels, torch.rand(10, 3), 'mean')  # per-element weight
    assert fl.sigmoid_focal_loss(pred, labels, weight, reduction='none').shape == (10, 3)


def test_sum_with_avg_factor_is_refused():
    pred, labels, _ = _inputs(n=5, k=2)
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"'):
        fused_sigmoid_focal_loss(pred, labels, reduction='sum', avg_factor=2.0)


def test_cpu_softplus_keeps_the_digits_and_the_special_values():
    from detkit.models.losses.fused_focal_loss import _softplus_cpu
    x = torch.cat([torch.linspace(-120, 120, 200001), torch.randn(100000) * 6,
                   torch.tensor([0., 1e-30, -1e-30, 16.6, -16.6, 17., -17., 88.7, -103.])])
    x64 = x.double()
    exact = torch.where(x64 > 0, x64, torch.zeros_like(x64)) + torch.log1p(torch.exp(-x64.abs()))
    scratch = [torch.empty_like(x) for _ in range(3)]
    got = _softplus_cpu(x, *scratch).double()
    rel = (got - exact).abs() / exact.clamp(min=1e-45)
    assert rel[exact > 1e-37].max() < 3e-7  # F.softplus: 1.2e-7 on the same values
    special = torch.tensor([float('inf'), float('-inf'), float('nan')])
    out = _softplus_cpu(special, *[torch.empty(3) for _ in range(3)])
    assert out[0] == float('inf') and out[1] == 0 and out[2].isnan()
