"""Differentiable boolean operators in the log domain (the note's "scheme 5").

A real number ``x`` stands for the boolean ``x > 0``; ``sigmoid(x)`` is its soft truth value.

    AND(x, y) = -log(e^-x + e^-y)      OR(x, y) = log(e^x + e^y)      NOT(x) = -x
    (A ⊗ B)_ij = log Σ_k 1 / (e^-a_ik + e^-b_kj) = LSE_k AND(a_ik, b_kj)

Every function here is written in a form that is finite, with finite gradients, for inputs of
any magnitude: ``AND(x, y) = min(x, y) - log1p(e^-|x-y|)`` and a max-shifted log-sum-exp.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Parameters enter the scans through PARAM_BOUND * tanh(theta / PARAM_BOUND). With every entry of
# A and x_0 in [-PARAM_BOUND, PARAM_BOUND] and D >= 2, a sequential recurrence keeps every state in
# [-PARAM_BOUND, PARAM_BOUND + log D], so e^{±x} stays far inside float32 (e^88 overflows).
PARAM_BOUND = 30.0


def soft_and(x: Tensor, y: Tensor) -> Tensor:
    """Soft AND: ``-log(e^-x + e^-y)``, a smooth lower bound of ``min(x, y)``."""
    return -torch.logaddexp(-x, -y)


def soft_or(x: Tensor, y: Tensor) -> Tensor:
    """Soft OR: ``log(e^x + e^y)``, a smooth upper bound of ``max(x, y)``."""
    return torch.logaddexp(x, y)


def soft_not(x: Tensor) -> Tensor:
    """Soft NOT: ``-x``."""
    return -x


def bool_matmul(a: Tensor, b: Tensor) -> Tensor:
    """Boolean matrix product ``(..., P, Q) ⊗ (..., Q, R) -> (..., P, R)``, broadcasting."""
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"bool_matmul: inner sizes differ: {tuple(a.shape)} ⊗ {tuple(b.shape)}")
    return torch.logsumexp(soft_and(a.unsqueeze(-1), b.unsqueeze(-3)), dim=-2)


def bool_matvec(a: Tensor, x: Tensor) -> Tensor:
    """Boolean matrix-vector product ``(..., P, Q) ⊗ (..., Q) -> (..., P)``, broadcasting."""
    if a.shape[-1] != x.shape[-1]:
        raise ValueError(f"bool_matvec: inner sizes differ: {tuple(a.shape)} ⊗ {tuple(x.shape)}")
    return torch.logsumexp(soft_and(a, x.unsqueeze(-2)), dim=-1)


def bound_parameter(theta: Tensor) -> Tensor:
    """Map a free parameter into ``(-PARAM_BOUND, PARAM_BOUND)``, keeping its sign."""
    return PARAM_BOUND * torch.tanh(theta / PARAM_BOUND)


def shift_rows(values: Tensor, sigma: float) -> Tensor:
    """Add one ``N(0, sigma²)`` draw to each row (the last axis shares it), then clip into
    ``±PARAM_BOUND``.

    Every term of a row's soft OR moves together, so a value that sits near 0 because many weak
    terms add up, or a magnitude that carries information, is no longer reliable, while a
    sparse row whose entries sit far from 0 keeps its signs. Independent noise per entry does
    not do this: it averages out inside the log-sum.
    """
    shift = sigma * torch.randn(*values.shape[:-1], 1, dtype=values.dtype, device=values.device)
    return (values + shift).clamp(-PARAM_BOUND, PARAM_BOUND)
