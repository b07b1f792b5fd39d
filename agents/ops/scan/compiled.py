"""The sequential boolean scan with each step fused by ``torch.compile`` (TorchInductor).

The math is :func:`agents.ops.scan.naive.sequential_scan`'s: with ``E = e^-A`` and
``u = e^-x``, one step is ``s_i = Σ_k 1 / (E[a]_ik + u_k)``, ``x'_i = log s_i``, ``u'_i = 1 / s_i``,
and the backward recomputes ``r_ik² = (E[a]_ik + u_k)^-2`` from the stored states. The eager
scan writes those ``B·D²`` terms to memory several times a step (gather, add, reciprocal,
square, …), and on the CPU that memory traffic is what it spends its time on. Compiled, each
step is one loop over the terms that reads the small table ``E`` and the ``(B, D)`` states and
writes ``(B, D)`` results (the backward also writes its per-sequence table gradients, which are
summed per token). On the CPU a training step of the Hard recipes (65–257 tokens, state
128–160, one thread) is 3.5–5× faster than with ``sequential``; on short sequences the cost
of a call per step weighs more (2.2× at ``D = 128``, 1.2× at ``D = 64``, slower at
``D <= 32``: the speed table in docs/results.md).

It needs what ``torch.compile`` needs (a C++ compiler on the CPU), and each new shape and dtype
compiles once, which takes seconds. Same inputs and outputs as the other scans
(:mod:`agents.ops.scan`).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from agents.ops.scan.naive import step_inputs_outputs


def _forward_step(exp_neg_A: Tensor, tokens: Tensor, exp_neg_x: Tensor) -> tuple[Tensor, Tensor]:
    """``(x', e^-x')`` after reading ``tokens`` ``(B,)``, from the states as ``e^-x`` ``(B, D)``."""
    sums = (exp_neg_A[tokens] + exp_neg_x.unsqueeze(1)).reciprocal().sum(-1)
    return sums.log(), sums.reciprocal()


def _backward_step(
    exp_neg_A: Tensor, tokens: Tensor, exp_neg_in: Tensor, coef: Tensor
) -> tuple[Tensor, Tensor]:
    """The gradient of the state before a step, and ``coef_i · r_ik²`` per sequence ``(B, D, D)``
    (its sum per token, times ``e^-A``, is the table's gradient); ``coef`` is the gradient of
    the state after the step times ``e^-x'``."""
    weighted = coef.unsqueeze(-1) * (exp_neg_A[tokens] + exp_neg_in.unsqueeze(1)).pow(-2)
    return weighted.sum(1) * exp_neg_in, weighted


@functools.cache
def _compiled_steps() -> tuple:
    return torch.compile(_forward_step), torch.compile(_backward_step)


class _CompiledScan(torch.autograd.Function):
    """The recurrence step by step, each step (and each step of its backward) one compiled call."""

    @staticmethod
    def forward(ctx, A, tokens, x0, resets, reset_state):
        forward_step, _ = _compiled_steps()
        exp_neg_A = torch.exp(-A)
        steps = tokens.t().contiguous()
        exp_neg_x = torch.exp(-x0)
        exp_neg_reset = None if resets is None else torch.exp(-reset_state)
        states = x0.new_empty(*tokens.shape, x0.shape[-1])
        for t in range(steps.shape[0]):
            if resets is not None:
                exp_neg_x = torch.where(resets[:, t, None], exp_neg_reset, exp_neg_x)
            states[:, t], exp_neg_x = forward_step(exp_neg_A, steps[t], exp_neg_x)
        ctx.save_for_backward(exp_neg_A, steps, x0, resets, reset_state, states)
        return states

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_states):
        _, backward_step = _compiled_steps()
        exp_neg_A, steps, x0, resets, reset_state, states = ctx.saved_tensors
        exp_neg_in, exp_neg_out, resets = step_inputs_outputs(x0, states, resets, reset_state)
        grad_reset = None if resets is None else torch.zeros_like(reset_state)
        grad_sums = torch.zeros_like(exp_neg_A)
        grad_x = torch.zeros_like(x0)
        for t in reversed(range(steps.shape[0])):
            coef = (grad_x + grad_states[:, t]) * exp_neg_out[t]
            grad_x, weighted = backward_step(exp_neg_A, steps[t], exp_neg_in[t], coef)
            grad_sums.index_add_(0, steps[t], weighted)
            if resets is not None:
                grad_reset += (grad_x * resets[t]).sum(0)
                grad_x = grad_x.masked_fill(resets[t], 0.0)
        return grad_sums.mul_(exp_neg_A), None, grad_x, None, grad_reset


def compiled_scan(
    A: Tensor,
    tokens: Tensor,
    x0: Tensor,
    *,
    resets: Tensor | None = None,
    reset_state: Tensor | None = None,
) -> Tensor:
    """The sequential recurrence with compiled steps (see the module docstring)."""
    return _CompiledScan.apply(A, tokens.long(), x0, resets, reset_state)
