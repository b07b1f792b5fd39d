"""Chunked matrix scan: the boolean scan for long sequences and small batches.

The sequence is cut into chunks of ``L`` tokens and computed in three parallel phases:

1. chunk products ``P_c = A_{last} ⊗ … ⊗ A_{first}``, built left to right with the ``A_i``
   (``P ← A_t ⊗ P``). Column ``j`` of ``P`` only ever meets column ``j``, so this is the fused
   recurrent kernel run on ``B·(T/L)·D`` independent columns, parallel over chunks and columns;
2. the carry ``h_c = P_c ⊗ h_{c-1}`` across chunks: the fused recurrent kernel over the table of
   chunk products, sequential in ``T/L`` steps;
3. inside each chunk, from the carry, ``x' = A_t ⊗ x``: the fused recurrent kernel over
   ``B·T/L`` rows of ``L`` steps.

Sequential depth ``2L + T/L`` instead of ``T``, for ``B·T·D³`` extra terms (phase 1). Resets
follow the resettable monoid: a reset restarts the chunk product at its token, and the carry of
a chunk holding a reset starts from ``reset_state``. Entries stay within ``[-M, M + 2 log D]``
(``docs/architecture.md``), so the exp domain needs no shift.

Backward reverses the phases with the same kernels (:mod:`agents.ops.scan.fused_recurrent`),
giving the exact gradient of this combine order (not of the sequential recurrence).
"""

from __future__ import annotations

import torch
import triton
from torch import Tensor

from agents.ops.scan.fused_recurrent import (
    exp_table,
    prepare,
    scan_backward,
    scan_forward,
    table_grad,
)


def chunk_length(length: int) -> int:
    """Chunk length: the power of two nearest ``sqrt(T)``, within [16, 1024]."""
    return max(16, min(1024, triton.next_power_of_2(int(length**0.5))))


class _ChunkedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, tokens, x0, resets, reset_state, chunk):  # type: ignore[override]
        batch, length = tokens.shape
        dim = A.shape[-1]
        n_chunks = triton.cdiv(length, chunk)
        pad = n_chunks * chunk - length
        idx, x0, rst, rstate = prepare(A, tokens, x0, resets, reset_state)
        idx = torch.nn.functional.pad(idx, (0, pad)).view(batch * n_chunks, chunk)
        if rst is not None:
            rst = torch.nn.functional.pad(rst, (0, pad)).view(batch * n_chunks, chunk)
        tab = exp_table(A)
        # Phase 1: chunk products, one row per (chunk, column).
        cols = scan_forward(tab, idx, None, rst, None, dim=dim, column_start=True)
        products = cols[:, -1].view(batch * n_chunks, dim, dim).transpose(1, 2)
        ptab = exp_table(products)
        # Phase 2: the carry across chunks.
        cidx = torch.arange(batch * n_chunks, device=A.device, dtype=torch.int32)
        cidx = cidx.view(batch, n_chunks)
        crst = None if rst is None else rst.view(batch, n_chunks, chunk).amax(-1).contiguous()
        carry = scan_forward(ptab, cidx, x0, crst, rstate, dim=dim)
        # Phase 3: the states inside each chunk, from the carry.
        x0_in = torch.cat([x0[:, None], carry[:, :-1]], dim=1).reshape(batch * n_chunks, dim)
        out = scan_forward(tab, idx, x0_in, rst, rstate, dim=dim)
        ctx.save_for_backward(tab, idx, rst, rstate, x0, cols, ptab, cidx, crst, carry, x0_in, out)
        ctx.shape = (batch, length, n_chunks, chunk)
        return out.view(batch, n_chunks * chunk, dim)[:, :length]

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        tab, idx, rst, rstate, x0, cols, ptab, cidx, crst, carry, x0_in, out = ctx.saved_tensors
        batch, length, n_chunks, chunk = ctx.shape
        dim = out.shape[-1]
        g = torch.nn.functional.pad(grad.float(), (0, 0, 0, n_chunks * chunk - length))
        # Phase 3.
        w, dx0_in, drs = scan_backward(
            tab, idx, x0_in, rst, rstate, out, g.reshape(batch * n_chunks, chunk, dim), dim=dim
        )
        dtab = table_grad(tab, idx, x0_in, rst, rstate, out, w, dim=dim)
        dx0_in = dx0_in.view(batch, n_chunks, dim)
        dcarry = torch.zeros_like(dx0_in)
        dcarry[:, :-1] = dx0_in[:, 1:]
        # Phase 2.
        w, dx0, drs_carry = scan_backward(ptab, cidx, x0, crst, rstate, carry, dcarry, dim=dim)
        dx0 = dx0 + dx0_in[:, 0]
        dproducts = table_grad(ptab, cidx, x0, crst, rstate, carry, w, dim=dim)[:, :dim, :dim]
        # Phase 1: the gradient enters at each column's last step.
        gcols = dproducts.transpose(1, 2).reshape(-1, dim)
        w, _, _ = scan_backward(
            tab, idx, None, rst, None, cols, gcols, dim=dim, column_start=True, grad_at_end=True
        )
        dtab += table_grad(tab, idx, None, rst, None, cols, w, dim=dim, column_start=True)
        # Start positions (chunk starts and resets) read a column of A directly.
        starts = torch.zeros_like(idx, dtype=torch.bool)
        starts[:, 0] = True
        if rst is not None:
            starts |= rst.bool()
        start_grads = w.view(-1, dim, chunk, dim).permute(0, 2, 3, 1)[starts]
        dA = dtab[:, :dim, :dim].index_add(0, idx[starts].long(), start_grads)
        dreset = None
        if drs is not None:
            dreset = drs.sum(0) + drs_carry.sum(0)
        return dA, None, dx0, None, dreset, None


def chunked_scan(
    A: Tensor,
    tokens: Tensor,
    x0: Tensor,
    *,
    resets: Tensor | None = None,
    reset_state: Tensor | None = None,
    chunk: int | None = None,
) -> Tensor:
    """All states ``(B, T, D)`` of the boolean recurrence by a chunked matrix scan.

    ``chunk`` is the chunk length (default :func:`chunk_length`). Differentiable in ``A``, ``x0``
    and ``reset_state``; float32 on CUDA (or under the Triton interpreter). Shapes and the meaning
    of ``resets`` follow :func:`agents.ops.scan.boolean_scan`.
    """
    chunk = chunk or chunk_length(tokens.shape[1])
    out = _ChunkedScan.apply(A, tokens, x0, resets, reset_state, chunk)
    return out.to(A.dtype)
