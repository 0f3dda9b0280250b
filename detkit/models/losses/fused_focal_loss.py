"""Sigmoid focal loss of class labels, summed, with its gradient formed in the same pass.

The generic path (:func:`detkit.models.losses.focal_loss.sigmoid_focal_loss`)
builds the elementwise loss from ~10 autograd ops over the ``[N, K]`` logits
and lets autograd run each one backwards: ~25 passes over a tensor that is
``B × 49k anchors × 80 classes`` for RetinaNet at 512 px. Here forward
computes the weighted sum and the analytic gradient together in ~8 passes
over cache-sized chunks of rows, with one full-size buffer (the gradient),
and backward only scales that gradient in place.

With ``p = σ(x)``, ``s = softplus(x) = -log(1 - p)``, ``t = softplus(-x)``:

* background element: ``ℓ = (1-α) p^γ s``,
  ``∂ℓ/∂x = (1-α) p^γ (γ (1-p) s + p)``;
* element at the label: ``ℓ = α (1-p)^γ t``,
  ``∂ℓ/∂x = -α (1-p)^γ (γ p t + (1-p))``.

The numbers are those of the generic path up to float32 rounding (sums in
another order): relative differences around 1e-7 for the loss and the
gradient.
"""
from typing import List, Optional, Tuple, Union

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


def _softplus_cpu(x: Tensor, out: Tensor, tmp: Tensor, tmp2: Tensor) -> Tensor:
    """``softplus(x) = max(x, 0) + log1p(exp(-|x|))`` into ``out``, with ``log`` for ``log1p``.

    ATen's CPU ``log1p`` (and so ``F.softplus``) runs an order of magnitude slower
    than its ``log`` on AVX-512 dispatch (66 vs 8 ms for 8M floats on the
    benchmark machine). Goldberg's identity ``log1p(u) = log(w) · u / (w - 1)``
    with ``w = fl(1 + u)`` keeps the digits (max relative error 1.7e-7 against
    float64, ``F.softplus`` 1.2e-7); where ``w`` rounds to 1 it is ``u`` itself.
    ``tmp``/``tmp2``: scratch of ``x``'s shape.
    """
    u = torch.abs(x, out=tmp).neg_().exp_()
    w = torch.add(u, 1, out=out)
    d = torch.sub(w, 1, out=tmp2)  # exact
    w.log_().div_(d).nan_to_num_(nan=1.0).mul_(u)  # log(w) / (w - 1), 0/0 -> 1; times u
    return w.add_(torch.clamp(x, min=0, out=tmp))


#: on the CPU, elements per chunk of rows (4 MiB per float32 buffer): the chunk's
#: temporaries stay in cache, and there are few enough chunks that multi-threaded
#: elementwise ops do not pay their fork/join more than ~10 times
CPU_CHUNK_ELEMENTS = 1 << 20


def _chunk_loss_and_grad(x: Tensor, rows: Tensor, gamma: float, grad: Optional[Tensor],
                         scratch: Optional[List[Tensor]]) -> Tensor:
    """Background terms of a chunk of rows: their weighted sum; their gradient into ``grad``.

    ``x [n, K]`` logits, ``rows [n, 1]`` = ``(1-α) w``; ``grad [n, K]`` (or None) is
    written in place. The elements at the labels are corrected by the caller.
    ``scratch``: on the CPU four buffers of at least ``n`` rows, reused from chunk
    to chunk (fresh 4 MiB allocations would each page-fault); None on CUDA.
    """
    if scratch is None:
        p, s = x.sigmoid(), F.softplus(x)
    else:
        p, s, tmp, tmp2 = (b[:len(x)] for b in scratch)
        torch.sigmoid(x, out=p)
        _softplus_cpu(x, s, tmp, tmp2)
    if grad is not None:
        torch.mul(p, -1, out=grad).add_(1)  # 1 - p
        torch.addcmul(p, grad, s, value=gamma, out=grad)  # p + γ (1-p) s
    pg = p.pow_(gamma).mul_(rows)  # (1-α) w p^γ, over p
    if grad is not None:
        grad.mul_(pg)
    # torch.sum's cascade summation, not a BLAS dot: a float32 dot over millions of
    # terms drifts by ~1e-4
    return pg.mul_(s).sum()


def _loss_sum_and_grad(x: Tensor, labels: Tensor, weight: Optional[Tensor], gamma: float,
                       alpha: float, with_grad: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """``Σ_i w_i Σ_k ℓ_ik`` and, if asked, ``w_i ∂ℓ_ik/∂x_ik`` (``[N, K]``).

    On the CPU the rows go in chunks of about :data:`CPU_CHUNK_ELEMENTS`
    elements, so that the temporaries of a chunk stay in cache and only the
    gradient is a full-size buffer; on CUDA in one piece.
    """
    num_rows, num_classes = x.shape
    rows = (torch.full((num_rows, 1), 1 - alpha, dtype=x.dtype, device=x.device)
            if weight is None else (1 - alpha) * weight.to(x.dtype).reshape(-1, 1))
    grad = torch.empty_like(x, memory_format=torch.contiguous_format) if with_grad else None
    step = num_rows if x.is_cuda else max(1, CPU_CHUNK_ELEMENTS // max(num_classes, 1))
    scratch = (None if x.is_cuda else
               [x.new_empty((min(step, num_rows), num_classes)) for _ in range(4)])
    totals = [_chunk_loss_and_grad(x[i:i + step], rows[i:i + step], gamma,
                                   None if grad is None else grad[i:i + step], scratch)
              for i in range(0, num_rows, step)]
    total = torch.stack(totals).sum() if totals else x.new_zeros(())

    # swap the background term for the label term where the target is 1; taken on every
    # row (one element each) under a mask, so that no row indices, and no host sync, are needed
    is_pos = labels < num_classes
    cols = labels.long().clamp(max=num_classes - 1).unsqueeze(1)
    at_label = x.gather(1, cols).squeeze(1)
    background = rows.reshape(-1) * at_label.sigmoid().pow(gamma) * F.softplus(at_label)
    pos_loss, pos_grad = _positive_terms(at_label, gamma, alpha)
    if weight is not None:
        pos_w = weight.to(x.dtype).reshape(-1)
        pos_loss, pos_grad = pos_loss * pos_w, pos_grad * pos_w
    total = total + torch.where(is_pos, pos_loss - background, 0).sum()
    if grad is not None:
        grad.scatter_(1, cols, torch.where(is_pos, pos_grad, grad.gather(1, cols).squeeze(1))
                      .unsqueeze(1))
    return total, grad


class _SigmoidFocalLossSum(torch.autograd.Function):
    """``Σ_i w_i Σ_k ℓ_ik`` for logits ``[N, K]`` and labels ``[N]`` (``K`` = background)."""

    @staticmethod
    def forward(ctx, pred: Tensor, labels: Tensor, weight: Optional[Tensor], gamma: float,
                alpha: float) -> Tensor:
        total, grad = _loss_sum_and_grad(pred.detach(), labels, weight, gamma, alpha,
                                         ctx.needs_input_grad[0])
        # backward scales this gradient in place: no copy, and ``pred`` need not be kept
        ctx.grad = grad
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        grad, ctx.grad = ctx.grad, None
        if grad is None:
            raise RuntimeError('the fused focal loss gradient was already used: its graph can '
                               'be backpropagated once (retain_graph=True is not supported)')
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
        a scalar, the generic path's value up to float32 rounding. Its graph
        can be backpropagated once: backward hands over the gradient it
        formed in forward (``retain_graph=True`` and a second backward raise).
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
