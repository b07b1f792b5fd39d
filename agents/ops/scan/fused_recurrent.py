"""Fused recurrent boolean scan: the whole sequence in one Triton launch, the state on chip.

The recurrence ``x' = A[a] ⊗ x`` is run in the exp domain. With the table ``E = exp(-A)``
computed once (V·D² exponentials), one step of one row is

    s_i = Σ_k 1 / (E[a]_ik + e^{-x_k}),     x'_i = log s_i,     e^{-x'_i} = 1 / s_i

so each of the D² terms costs one add and one reciprocal. The state stays in registers as
``e^{-x}``; only the outputs go to memory. With entries of ``A`` and ``x_0`` within ±30 the states
stay in ``[-30, 30 + log D]`` (see ``docs/architecture.md``), so ``e^{±x}`` needs no shift.

Backward runs in reverse time and recomputes the terms from the stored states (the output).
With ``g`` the gradient of the state after a step and ``w_i = g_i e^{-x'_i}``:

    ∂/∂x_k = e^{-x_k} Σ_i w_i r_ik²,    ∂/∂A_ik = E_ik w_i r_ik²,    r_ik = 1/(E_ik + e^{-x_k}).

The state gradient is a sequential pass (``_scan_bwd_kernel``, which stores ``w``). The table
gradient is a second, fully parallel kernel (``_table_grad_kernel``): positions sorted by token,
each program accumulates a D×D tile in registers and flushes it with one atomic add per token.

The three kernels are generic over the table (any stack of D×D matrices in the exp domain) and
also serve the chunked matrix scan (:mod:`agents.ops.scan.chunked`): its chunk products are the
same recurrence run on the columns of a matrix (``column_start``), and its carry is this scan over
the table of chunk products.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from torch import Tensor

from agents.ops.scan import interpreting


@triton.jit
def rcp(x, FAST: tl.constexpr):
    """``1 / x``: one MUFU.RCP on the GPU, a plain division in the interpreter."""
    if FAST:
        y = tl.inline_asm_elementwise(
            "rcp.approx.ftz.f32 $0, $1;", "=r,r", [x], dtype=tl.float32, is_pure=True, pack=1
        )
    else:
        y = 1.0 / x
    return y


@triton.jit
def _row_block(R, idx_div, D: tl.constexpr, BD: tl.constexpr, BLOCK_R: tl.constexpr):
    """The rows of this program (``BLOCK_R`` state rows, ``idx_div`` rows per sequence), their
    masks and sequences, and the offsets of a padded ``BD``-wide state and ``BD×BD`` tile."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    rmask = rows < R
    offs = tl.arange(0, BD)
    dmask = offs < D
    m2 = rmask[:, None] & dmask[None, :]
    tile = offs[:, None] * BD + offs[None, :]
    return rows, rmask, rows.to(tl.int64), (rows // idx_div).to(tl.int64), offs, dmask, m2, tile


@triton.jit
def _scan_fwd_kernel(
    tab_ptr,
    idx_ptr,
    x0_ptr,
    rst_ptr,
    rstate_ptr,
    out_ptr,
    R,
    L,
    idx_div,
    D: tl.constexpr,
    BD: tl.constexpr,
    BLOCK_R: tl.constexpr,
    HAS_RESET: tl.constexpr,
    COLUMN_START: tl.constexpr,
    FAST_RCP: tl.constexpr,
):
    rows, rmask, rows64, seq, offs, dmask, m2, tile = _row_block(R, idx_div, D, BD, BLOCK_R)
    if COLUMN_START:
        col = rows % idx_div
        ex = tl.full((BLOCK_R, BD), 1.0, tl.float32)
    else:
        x0 = tl.load(x0_ptr + rows64[:, None] * D + offs[None, :], mask=m2, other=0.0)
        ex = tl.exp(-x0)
    if HAS_RESET:
        ex_reset = tl.exp(-tl.load(rstate_ptr + offs, mask=dmask, other=0.0))
    # tab_ptr holds the transposed table (k, i): the sum over k stays mostly inside a thread.
    tok = tl.load(idx_ptr + seq * L, mask=rmask, other=0).to(tl.int64)
    e = tl.load(tab_ptr + tok[:, None, None] * (BD * BD) + tile[None, :, :])
    for t in range(L):
        # Prefetch the next step's matrix; it depends on the tokens only.
        tok_next = tl.load(idx_ptr + seq * L + tl.minimum(t + 1, L - 1), mask=rmask, other=0)
        tok_next = tok_next.to(tl.int64)
        e_next = tl.load(tab_ptr + tok_next[:, None, None] * (BD * BD) + tile[None, :, :])
        if HAS_RESET:
            rs = tl.load(rst_ptr + seq * L + t, mask=rmask, other=0) != 0
            if not COLUMN_START:
                ex = tl.where(rs[:, None], ex_reset[None, :], ex)
        s = tl.sum(rcp(e + ex[:, :, None], FAST_RCP), axis=1)
        new = rcp(s, FAST_RCP)
        if COLUMN_START:
            start = (t == 0) | tl.zeros((BLOCK_R,), tl.int1)
            if HAS_RESET:
                start = start | rs
            column = tl.load(tab_ptr + tok[:, None] * (BD * BD) + col[:, None] * BD + offs[None, :])
            new = tl.where(start[:, None], column, new)
        ex = tl.where(dmask[None, :], new, 1.0)
        tl.store(out_ptr + (rows64[:, None] * L + t) * D + offs[None, :], -tl.log(ex), mask=m2)
        tok = tok_next
        e = e_next


@triton.jit
def _scan_bwd_kernel(
    tab_ptr,
    idx_ptr,
    x0_ptr,
    rst_ptr,
    rstate_ptr,
    out_ptr,
    gout_ptr,
    w_ptr,
    dx0_ptr,
    drs_ptr,
    R,
    L,
    idx_div,
    D: tl.constexpr,
    BD: tl.constexpr,
    BLOCK_R: tl.constexpr,
    HAS_RESET: tl.constexpr,
    COLUMN_START: tl.constexpr,
    GRAD_AT_END: tl.constexpr,
    FAST_RCP: tl.constexpr,
):
    _, rmask, rows64, seq, offs, dmask, m2, tile = _row_block(R, idx_div, D, BD, BLOCK_R)
    vec = rows64[:, None] * D + offs[None, :]
    if not COLUMN_START:
        x0 = tl.load(x0_ptr + vec, mask=m2, other=0.0)
    if HAS_RESET:
        rstate = tl.load(rstate_ptr + offs, mask=dmask, other=0.0)
        drs = tl.zeros((BLOCK_R, BD), tl.float32)
    carry = tl.zeros((BLOCK_R, BD), tl.float32)
    # Software pipeline: the loads of step t - 1 are issued during step t.
    t_ptr = rows64[:, None] * L * D + offs[None, :]
    tok_last = tl.load(idx_ptr + seq * L + L - 1, mask=rmask, other=0).to(tl.int64)
    e = tl.load(tab_ptr + tok_last[:, None, None] * (BD * BD) + tile[None, :, :])
    x = tl.load(out_ptr + t_ptr + (L - 1) * D, mask=m2, other=0.0)
    prev = tl.load(out_ptr + t_ptr + tl.maximum(L - 2, 0) * D, mask=m2, other=0.0)
    if GRAD_AT_END:
        gin = tl.load(gout_ptr + vec, mask=m2, other=0.0)
    else:
        gin = tl.load(gout_ptr + t_ptr + (L - 1) * D, mask=m2, other=0.0)
    for tt in range(L):
        t = L - 1 - tt
        tm1 = tl.maximum(t - 1, 0)
        tok_next = tl.load(idx_ptr + seq * L + tm1, mask=rmask, other=0).to(tl.int64)
        e_next = tl.load(tab_ptr + tok_next[:, None, None] * (BD * BD) + tile[None, :, :])
        prev_next = tl.load(out_ptr + t_ptr + tl.maximum(t - 2, 0) * D, mask=m2, other=0.0)
        if GRAD_AT_END:
            gin_next = gin * 0.0
        else:
            gin_next = tl.load(gout_ptr + t_ptr + tm1 * D, mask=m2, other=0.0)
        g = carry + gin
        w = g * tl.exp(-x)
        x_next = prev
        start = (t == 0) | tl.zeros((BLOCK_R,), tl.int1)
        if HAS_RESET:
            rs = tl.load(rst_ptr + seq * L + t, mask=rmask, other=0) != 0
            start = start | rs
        if not COLUMN_START:
            prev = tl.where(t == 0, x0, prev)
            if HAS_RESET:
                prev = tl.where(rs[:, None], rstate[None, :], prev)
        ex_prev = tl.exp(-prev)
        r = rcp(e + ex_prev[:, None, :], FAST_RCP)
        dprev = ex_prev * tl.sum((w[:, :, None] * r) * r, axis=1)
        if COLUMN_START:
            w = tl.where(start[:, None], g, w)
            carry = tl.where(start[:, None], 0.0, dprev)
        elif HAS_RESET:
            drs += tl.where(rs[:, None], dprev, 0.0)
            carry = tl.where(rs[:, None], 0.0, dprev)
        else:
            carry = dprev
        tl.store(w_ptr + t_ptr + t * D, w, mask=m2)
        e, x, prev, gin = e_next, x_next, prev_next, gin_next
    if not COLUMN_START:
        tl.store(dx0_ptr + vec, carry, mask=m2)
        if HAS_RESET:
            tl.store(drs_ptr + vec, drs, mask=m2)


@triton.jit
def _table_grad_kernel(
    tab_ptr,
    tok_ptr,
    pos_ptr,
    starts_ptr,
    x0_ptr,
    rst_ptr,
    rstate_ptr,
    out_ptr,
    w_ptr,
    dtab_ptr,
    N,
    L,
    chunk,
    nsub,
    D: tl.constexpr,
    BD: tl.constexpr,
    HAS_RESET: tl.constexpr,
    COLUMN_START: tl.constexpr,
    BLOCK_P: tl.constexpr,
    FAST_RCP: tl.constexpr,
):
    pid = tl.program_id(0)
    lo = pid * chunk
    hi = tl.minimum(lo + chunk, N)
    offs = tl.arange(0, BD)
    dmask = offs < D
    tile = offs[:, None] * BD + offs[None, :]
    tmask = dmask[:, None] & dmask[None, :]
    if HAS_RESET:
        rstate = tl.load(rstate_ptr + offs, mask=dmask, other=0.0)
    v_first = tl.load(tok_ptr + lo)
    v_last = tl.load(tok_ptr + hi - 1)
    for v in range(v_first, v_last + 1):
        seg_lo = tl.maximum(lo, tl.load(starts_ptr + v))
        seg_hi = tl.minimum(hi, tl.load(starts_ptr + v + 1))
        tab = tl.load(tab_ptr + v * (BD * BD) + tile)
        acc = tl.zeros((BD, BD), tl.float32)
        for n0 in range(seg_lo, seg_hi, BLOCK_P):
            nn = n0 + tl.arange(0, BLOCK_P)
            nmask = nn < seg_hi
            m2 = nmask[:, None] & dmask[None, :]
            p = tl.load(pos_ptr + nn, mask=nmask, other=0).to(tl.int64)
            t = p % L
            keep = nmask.to(tl.float32)
            if HAS_RESET:
                rs = tl.load(rst_ptr + p, mask=nmask, other=0) != 0
            if COLUMN_START:
                keep = tl.where(t == 0, 0.0, keep)
                if HAS_RESET:
                    keep = tl.where(rs, 0.0, keep)
            for j in range(nsub):
                row = (p // L) * nsub + j
                at = (row * L + t) * D
                w = keep[:, None] * tl.load(w_ptr + at[:, None] + offs[None, :], mask=m2, other=0.0)
                prev_at = at - tl.where(t > 0, D, 0)
                prev = tl.load(out_ptr + prev_at[:, None] + offs[None, :], mask=m2, other=0.0)
                if not COLUMN_START:
                    x0 = tl.load(x0_ptr + row[:, None] * D + offs[None, :], mask=m2, other=0.0)
                    prev = tl.where((t == 0)[:, None], x0, prev)
                    if HAS_RESET:
                        prev = tl.where(rs[:, None], rstate[None, :], prev)
                r = rcp(tab[None, :, :] + tl.exp(-prev)[:, None, :], FAST_RCP)
                acc += tl.sum((w[:, :, None] * r) * r, axis=0)
        tl.atomic_add(dtab_ptr + v * (BD * BD) + tile, acc * tab, mask=tmask)


@dataclass(frozen=True)
class LaunchConfig:
    """Rows per program and warps for the recurrent kernels."""

    block_rows: int
    num_warps: int


def default_config(rows: int, block_d: int, device: torch.device) -> LaunchConfig:
    """One row per program; about 128 terms per thread, 64 when rows fill under two per SM.

    Measured on an H100 (docs/kernels.md): fewer warps per row mean more rows in flight per SM,
    which hides the step's latency better than more threads per row do.
    """
    sms = (
        torch.cuda.get_device_properties(device).multi_processor_count
        if device.type == "cuda"
        else 1
    )
    per_thread = 64 if rows < 2 * sms else 128
    return LaunchConfig(1, max(1, min(4, block_d**2 // (32 * per_thread))))


def exp_table(A: Tensor) -> Tensor:
    """``exp(-A)`` of a ``(N, D, D)`` stack, padded to a power of two with ``+inf`` (zero terms)."""
    n, d, _ = A.shape
    bd = triton.next_power_of_2(d)
    if bd == d:
        return torch.exp(-A.float()).contiguous()
    tab = torch.full((n, bd, bd), float("inf"), device=A.device, dtype=torch.float32)
    tab[:, :d, :d] = torch.exp(-A.float())
    return tab


def scan_forward(
    tab: Tensor,
    idx: Tensor,
    x0: Tensor | None,
    resets: Tensor | None,
    reset_state: Tensor | None,
    *,
    dim: int,
    column_start: bool = False,
    config: LaunchConfig | None = None,
) -> Tensor:
    """Run ``x' = tab[idx] ⊗ x`` over ``(S, L)`` index rows; returns ``(R, L, dim)`` log states.

    ``R = S`` rows start from ``x0`` (``(R, dim)``). With ``column_start`` there are ``R = S·dim``
    rows, row ``s·dim + j`` being column ``j`` of the running product ``tab[idx[s, t]] ⊗ … ``, which
    starts as column ``j`` of the first matrix (and again at each reset).
    """
    seqs, length = idx.shape
    rows = seqs * dim if column_start else seqs
    bd = tab.shape[-1]
    cfg = config or default_config(rows, bd, tab.device)
    out = torch.empty((rows, length, dim), device=tab.device, dtype=torch.float32)
    _scan_fwd_kernel[(triton.cdiv(rows, cfg.block_rows),)](
        tab.transpose(1, 2).contiguous(),
        idx,
        tab if x0 is None else x0,
        idx if resets is None else resets,
        tab if reset_state is None else reset_state,
        out,
        rows,
        length,
        dim if column_start else 1,
        D=dim,
        BD=bd,
        BLOCK_R=cfg.block_rows,
        HAS_RESET=resets is not None,
        COLUMN_START=column_start,
        FAST_RCP=not interpreting(),
        num_warps=cfg.num_warps,
    )
    return out


def scan_backward(
    tab: Tensor,
    idx: Tensor,
    x0: Tensor | None,
    resets: Tensor | None,
    reset_state: Tensor | None,
    out: Tensor,
    grad: Tensor,
    *,
    dim: int,
    column_start: bool = False,
    grad_at_end: bool = False,
    config: LaunchConfig | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Reverse-time pass of :func:`scan_forward`.

    ``grad`` is the gradient of the outputs, ``(R, L, dim)``, or with ``grad_at_end`` of the last
    state only, ``(R, dim)``. Returns ``w`` (``(R, L, dim)``, for :func:`table_grad`; at the start
    positions of ``column_start`` rows it holds the gradient of the start column itself), the
    gradient of ``x0`` and the per-row gradient of ``reset_state`` (``None`` without resets).
    """
    rows, length, _ = out.shape
    bd = tab.shape[-1]
    cfg = config or default_config(rows, bd, tab.device)
    w = torch.empty_like(out)
    dx0 = torch.empty((rows, dim), device=out.device, dtype=torch.float32)
    drs = torch.empty_like(dx0) if resets is not None else None
    _scan_bwd_kernel[(triton.cdiv(rows, cfg.block_rows),)](
        tab,
        idx,
        tab if x0 is None else x0,
        idx if resets is None else resets,
        tab if reset_state is None else reset_state,
        out,
        grad.contiguous(),
        w,
        dx0,
        dx0 if drs is None else drs,
        rows,
        length,
        dim if column_start else 1,
        D=dim,
        BD=bd,
        BLOCK_R=cfg.block_rows,
        HAS_RESET=resets is not None,
        COLUMN_START=column_start,
        GRAD_AT_END=grad_at_end,
        FAST_RCP=not interpreting(),
        num_warps=cfg.num_warps,
    )
    return w, dx0, drs


def table_grad(
    tab: Tensor,
    idx: Tensor,
    x0: Tensor | None,
    resets: Tensor | None,
    reset_state: Tensor | None,
    out: Tensor,
    w: Tensor,
    *,
    dim: int,
    column_start: bool = False,
) -> Tensor:
    """Gradient of the loss with respect to ``-log tab`` (``A``), ``(N, BD, BD)``, padded.

    Positions are sorted by index once; each program takes a run of them, accumulates one D×D tile
    per index in registers and adds it to the result atomically.
    """
    length = idx.shape[1]
    nsub = dim if column_start else 1
    bd = tab.shape[-1]
    flat = idx.reshape(-1)
    count = flat.numel()
    sorted_tok, pos = torch.sort(flat, stable=True)
    starts = torch.searchsorted(
        sorted_tok, torch.arange(tab.shape[0] + 1, device=idx.device, dtype=sorted_tok.dtype)
    )
    sms = torch.cuda.get_device_properties(tab.device).multi_processor_count if tab.is_cuda else 1
    chunk = max(1, triton.cdiv(count, 4 * sms))
    block_p = max(1, min(64, 16384 // bd**2))
    dtab = torch.zeros_like(tab)
    _table_grad_kernel[(triton.cdiv(count, chunk),)](
        tab,
        sorted_tok.to(torch.int32),
        pos.to(torch.int32),
        starts.to(torch.int32),
        tab if x0 is None else x0,
        flat if resets is None else resets.reshape(-1),
        tab if reset_state is None else reset_state,
        out,
        w,
        dtab,
        count,
        length,
        chunk,
        nsub,
        D=dim,
        BD=bd,
        HAS_RESET=resets is not None,
        COLUMN_START=column_start,
        BLOCK_P=block_p,
        FAST_RCP=not interpreting(),
        num_warps=8,
    )
    return dtab


def prepare(
    A: Tensor, tokens: Tensor, x0: Tensor, resets: Tensor | None, reset_state: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Kernel inputs: int32 tokens, float32 ``x0`` and ``reset_state``, uint8 resets."""
    return (
        tokens.to(torch.int32).contiguous(),
        x0.float().contiguous(),
        None if resets is None else resets.to(torch.uint8).contiguous(),
        None if reset_state is None else reset_state.float().contiguous(),
    )


class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, tokens, x0, resets, reset_state):  # type: ignore[override]
        dim = A.shape[-1]
        idx, x0, rst, rstate = prepare(A, tokens, x0, resets, reset_state)
        tab = exp_table(A)
        out = scan_forward(tab, idx, x0, rst, rstate, dim=dim)
        ctx.save_for_backward(tab, idx, x0, out, rst, rstate)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        tab, idx, x0, out, rst, rstate = ctx.saved_tensors
        dim = out.shape[-1]
        w, dx0, drs = scan_backward(tab, idx, x0, rst, rstate, out, grad, dim=dim)
        dA = table_grad(tab, idx, x0, rst, rstate, out, w, dim=dim)[:, :dim, :dim]
        return dA, None, dx0, None, None if drs is None else drs.sum(0)


def fused_recurrent_scan(
    A: Tensor,
    tokens: Tensor,
    x0: Tensor,
    *,
    resets: Tensor | None = None,
    reset_state: Tensor | None = None,
) -> Tensor:
    """All states ``(B, T, D)`` of ``x_{t+1} = A[tokens[:, t]] ⊗ x_t``, one launch per direction.

    Differentiable in ``A``, ``x0`` and ``reset_state``; float32 on CUDA (or under the Triton
    interpreter). Shapes and the meaning of ``resets`` follow :func:`agents.ops.scan.boolean_scan`.
    """
    out = _FusedScan.apply(A, tokens, x0, resets, reset_state)
    return out.to(A.dtype)
