"""Literal float64 forms of the boolean operators, written straight from the definitions.

Tests and kernel checks compare every fast path with these. They are exact formulas, not stable
ones: use them on float64 inputs of moderate magnitude (|x| < 300).
"""

from __future__ import annotations

import torch
from torch import Tensor


def and_ref(x: Tensor, y: Tensor) -> Tensor:
    """``-log(e^-x + e^-y)`` computed literally in float64."""
    x, y = x.double(), y.double()
    return -torch.log(torch.exp(-x) + torch.exp(-y))


def or_ref(x: Tensor, y: Tensor) -> Tensor:
    """``log(e^x + e^y)`` computed literally in float64."""
    x, y = x.double(), y.double()
    return torch.log(torch.exp(x) + torch.exp(y))


def matmul_ref(a: Tensor, b: Tensor) -> Tensor:
    """``log Σ_k 1 / (e^-a_ik + e^-b_kj)`` computed literally in float64."""
    a, b = a.double(), b.double()
    terms = 1.0 / (torch.exp(-a).unsqueeze(-1) + torch.exp(-b).unsqueeze(-3))
    return torch.log(terms.sum(dim=-2))


def matvec_ref(a: Tensor, x: Tensor) -> Tensor:
    """``log Σ_k 1 / (e^-a_ik + e^-x_k)`` computed literally in float64."""
    return matmul_ref(a, x.unsqueeze(-1)).squeeze(-1)


def sequential_scan_ref(
    A: Tensor,
    tokens: Tensor,
    x0: Tensor,
    resets: Tensor | None = None,
    reset_state: Tensor | None = None,
) -> Tensor:
    """The recurrence ``x_{t+1} = A[tokens[:, t]] ⊗ x_t`` as a plain float64 loop.

    Returns ``(B, T, D)`` states, ``out[:, t]`` being the state after reading ``tokens[:, t]``.
    Where ``resets[b, t]`` is true the state is replaced by ``reset_state`` before that token.
    """
    x = x0.double()
    out = []
    for t in range(tokens.shape[1]):
        if resets is not None:
            x = torch.where(resets[:, t, None], reset_state.double().expand_as(x), x)
        x = matvec_ref(A.double()[tokens[:, t]], x)
        out.append(x)
    return torch.stack(out, dim=1)
