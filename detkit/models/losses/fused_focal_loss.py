"""Sigmoid focal loss of class labels, summed, with its gradient formed in the same pass.

The generic path (:func:`detkit.models.losses.focal_loss.sigmoid_focal_loss`)
builds the elementwise loss from ~10 autograd ops over the ``[N, K]`` logits
and lets autograd run each one backwards: ~25 passes over a tensor that is
``B × 49k anchors × 80 classes`` for RetinaNet at 512 px. Here forward
computes the weighted sum and the analytic gradient together in ~8 passes,
reusing three buffers, and backward only scales the saved gradient.

With ``p = σ(x)``, ``s = softplus(x) = -log(1 - p)``, ``t = softplus(-x)``:

* background element: ``ℓ = (1-α) p^γ s``,
  ``∂ℓ/∂x = (1-α) p^γ (γ (1-p) s + p)``;
* element at the label: ``ℓ = α (1-p)^γ t``,
  ``∂ℓ/∂x = -α (1-p)^γ (γ p t + (1-p))``.

The numbers are those of the generic path up to float32 rounding (sums in
another order): relative differences around 1e-7 for the loss and the
gradient.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

_EPS = torch.finfo(torch.float32).eps


def _positive_terms(x: Tensor, gamma: float, alpha: float):
    """Loss and gradient of the elements whose target is 1, from their logits ``x [P]``."""
    p = x.sigmoid()
    q = (-x).sigmoid()  # 1 - p, exact also where p rounds to 1
    t = F.softplus(-x)
    qg = q.pow(gamma)
    return alpha * qg * t, -alpha * qg * (gamma * p * t + q)


def _loss_sum_and_grad(x: Tensor, labels: Tensor, weight: Optional[Tensor], gamma: float,
                       alpha: float, with_grad: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """``Σ_i w_i Σ_k ℓ_ik`` and, if asked, ``w_i ∂ℓ_ik/∂x_ik`` (``[N, K]``), in ~8 passes."""
    num_classes = x.size(1)
    p = x.sigmoid()
    s = F.softplus(x)
    rows = (torch.full((x.size(0), 1), 1 - alpha, dtype=x.dtype, device=x.device)
            if weight is None else (1 - alpha) * weight.to(x.dtype).reshape(-1, 1))
    grad = None
    if with_grad:
        grad = torch.rsub(p, 1)
        torch.addcmul(p, grad, s, value=gamma, out=grad)  # p + γ (1-p) s
    pg = p.pow_(gamma).mul_(rows)  # (1-α) w p^γ, over p
    if grad is not None:
        grad.mul_(pg)

    pos_rows = (labels < num_classes).nonzero().squeeze(1)
    pos_cols = labels[pos_rows].long()
    # the background term must not count where the target is 1
    s[pos_rows, pos_cols] = 0
    # torch.sum's cascade summation, not a BLAS dot: a float32 dot over millions of
    # terms drifts by ~1e-4
    total = pg.mul_(s).sum()
    if pos_rows.numel():
        pos_loss, pos_grad = _positive_terms(x[pos_rows, pos_cols], gamma, alpha)
        pos_w = (torch.ones_like(pos_loss) if weight is None
                 else weight.to(x.dtype).reshape(-1)[pos_rows])
        total = total + (pos_loss * pos_w).sum()
        if grad is not None:
            grad[pos_rows, pos_cols] = pos_grad * pos_w
    return total, grad


class _SigmoidFocalLossSum(torch.autograd.Function):
    """``Σ_i w_i Σ_k ℓ_ik`` for logits ``[N, K]`` and labels ``[N]`` (``K`` = background)."""

    @staticmethod
    def forward(ctx, pred: Tensor, labels: Tensor, weight: Optional[Tensor], gamma: float,
                alpha: float) -> Tensor:
        total, grad = _loss_sum_and_grad(pred.detach(), labels, weight, gamma, alpha,
                                         ctx.needs_input_grad[0])
        # the first backward scales this gradient in place (no copy); a second one
        # (retain_graph) computes it again from the saved inputs
        ctx.grad = grad
        ctx.constants = (gamma, alpha)
        ctx.save_for_backward(pred, labels, weight)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        grad, ctx.grad = ctx.grad, None
        if grad is None:
            pred, labels, weight = ctx.saved_tensors
            grad = _loss_sum_and_grad(pred.detach(), labels, weight, *ctx.constants, True)[1]
        return grad.mul_(grad_output), None, None, None, None


def fused_sigmoid_focal_loss(pred: Tensor, labels: Tensor, weight: Optional[Tensor] = None,
                             gamma: float = 2.0, alpha: float = 0.25, reduction: str = 'mean',
                             avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Focal loss of logits ``pred [N, K]`` against labels ``[N]`` in ``[0, K]``, reduced.

    Args:
        pred: ``[N, K]`` float32/float64 logits.
        labels: ``[N]`` integer labels, ``K`` meaning background.
        weight: ``None`` or one weight per sample (``[N]`` or ``[N, 1]``).
        gamma, alpha: focusing and balancing parameters.
        reduction: 'mean' or 'sum' ('none' is the generic path's).
        avg_factor: with 'mean', divide the sum by ``avg_factor + eps``.

    Returns:
        a scalar, the generic path's value up to float32 rounding.
    """
    if reduction not in ('mean', 'sum'):
        raise ValueError(f"fused_sigmoid_focal_loss reduces by 'mean' or 'sum', got "
                         f"{reduction!r}")
    if reduction == 'sum' and avg_factor is not None:
        raise ValueError('avg_factor can not be used with reduction="sum": '
                         'use reduction="mean" to divide the sum by avg_factor')
    total = _SigmoidFocalLossSum.apply(pred, labels, weight, float(gamma), float(alpha))
    if reduction == 'sum':
        return total
    if avg_factor is None:
        return total / pred.numel()
    return total / (avg_factor + _EPS)


def fused_path_applies(pred: Tensor, target: Tensor, weight: Optional[Tensor],
                       reduction: str) -> bool:
    """Whether :func:`fused_sigmoid_focal_loss` computes what the generic path would."""
    return (pred.dim() == 2 and target.dim() == 1 and not target.is_floating_point()
            and pred.dtype in (torch.float32, torch.float64) and reduction in ('mean', 'sum')
            and (weight is None or (weight.numel() == pred.size(0)
                                    and not weight.requires_grad)))
