"""The readout ``y = C ⊗ x``: obs-token logits from states, with a hand-written backward.

    y_v = log Σ_d r_vd,    r_vd = 1 / (e^-c_vd + e^-x_d)
    ∂y_v/∂c_vd = r_vd² e^-c_vd e^-y_v,    ∂y_v/∂x_d = r_vd² e^-x_d e^-y_v

This is the literal formula in the exp domain, exact and in range for ``|C| <= M`` and states
``>= -M`` (every state of a scan is; docs/architecture.md, "Numerics").

Two implementations of the same formula. The eager one keeps the ``(..., V, D)`` tensor of terms
``r`` for the backward. The compiled one (``compiled=True``, the ``compiled`` scan's partner,
:mod:`agents.ops.scan.compiled`) fuses each pass with ``torch.compile`` and recomputes the terms
in the backward, so that tensor is never written to memory: on the CPU, where the eager readout
spends its time moving it, that is several times faster for large ``V·D``.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


class _EagerReadout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, C, states):
        exp_neg_C, exp_neg_x = torch.exp(-C), torch.exp(-states)
        terms = torch.add(exp_neg_C, exp_neg_x.unsqueeze(-2)).reciprocal_()
        sums = terms.sum(-1)
        ctx.save_for_backward(exp_neg_C, exp_neg_x, terms, sums)
        return sums.log()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        exp_neg_C, exp_neg_x, terms, sums = ctx.saved_tensors
        weighted = torch.mul(terms, (grad_y / sums).unsqueeze(-1)).mul_(terms)
        grad_C = weighted.reshape(-1, *exp_neg_C.shape).sum(0).mul_(exp_neg_C)
        return grad_C, weighted.sum(-2).mul_(exp_neg_x)


def _fused_forward(C: Tensor, states: Tensor) -> Tensor:
    return (torch.exp(-C) + torch.exp(-states).unsqueeze(-2)).reciprocal().sum(-1).log()


def _fused_backward(
    C: Tensor, states: Tensor, logits: Tensor, grad: Tensor
) -> tuple[Tensor, Tensor]:
    exp_neg_C, exp_neg_x = torch.exp(-C), torch.exp(-states)
    squares = (exp_neg_C + exp_neg_x.unsqueeze(-2)).pow(-2)
    weighted = squares * (grad * torch.exp(-logits)).unsqueeze(-1)
    return weighted.reshape(-1, *C.shape).sum(0) * exp_neg_C, weighted.sum(-2) * exp_neg_x


@functools.cache
def _compiled_passes() -> tuple:
    return torch.compile(_fused_forward), torch.compile(_fused_backward)


class _CompiledReadout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, C, states):
        logits = _compiled_passes()[0](C, states)
        ctx.save_for_backward(C, states, logits)
        return logits

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        return _compiled_passes()[1](*ctx.saved_tensors, grad.contiguous())


def readout(C: Tensor, states: Tensor, compiled: bool = False) -> Tensor:
    """Obs-token logits ``C ⊗ x``: ``C`` ``(V, D)``, states ``(..., D)`` → ``(..., V)``.
    ``compiled`` fuses each pass with ``torch.compile`` (see the module docstring)."""
    return (_CompiledReadout if compiled else _EagerReadout).apply(C, states)
