"""Triton scan kernels against the float64 reference, values and gradients.

Without a GPU the kernels run under the Triton interpreter (``TRITON_INTERPRET=1``, set before
the kernel modules are imported); with one, the same tests run on CUDA.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor

from agents.ops.reference import matmul_ref, matvec_ref, sequential_scan_ref

ON_GPU = torch.cuda.is_available()
DEVICE = "cuda" if ON_GPU else "cpu"
_INTERPRET = {} if ON_GPU else {"TRITON_INTERPRET": "1"}


def _set_env(values: dict[str, str]) -> dict[str, str | None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_saved = _set_env(_INTERPRET)
from agents.ops.scan import boolean_scan  # noqa: E402
from agents.ops.scan.chunked import chunked_scan  # noqa: E402
from agents.ops.scan.fused_recurrent import fused_recurrent_scan  # noqa: E402

_restore_env(_saved)

TOL = 1e-4


@pytest.fixture(autouse=True)
def _interpreter() -> Iterator[None]:
    saved = _set_env(_INTERPRET)
    yield
    _restore_env(saved)


def _rel(a: Tensor, b: Tensor) -> float:
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def _inputs(batch: int, length: int, dim: int, resets: bool, scale: float = 3.0, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    A = (scale * torch.randn(3, dim, dim, generator=gen)).clamp(-30, 30)
    tokens = torch.randint(0, 3, (batch, length), generator=gen)
    x0 = (scale * torch.randn(batch, dim, generator=gen)).clamp(-30, 30)
    rst = torch.rand(batch, length, generator=gen) < 0.2 if resets else None
    rstate = (scale * torch.randn(dim, generator=gen)).clamp(-30, 30) if resets else None
    weight = torch.randn(batch, length, dim, generator=gen)
    return A, tokens, x0, rst, rstate, weight


def chunked_ref(
    A: Tensor,
    tokens: Tensor,
    x0: Tensor,
    resets: Tensor | None,
    reset_state: Tensor | None,
    chunk: int,
) -> Tensor:
    """Float64 chunked scan with the kernel's combine order: products left to right, then carry."""
    A, carry = A.double(), x0.double()
    batch, length = tokens.shape
    no_reset = torch.zeros(batch, dtype=torch.bool)
    out = []
    for lo in range(0, length, chunk):
        x, prod = carry, None
        for t in range(lo, min(lo + chunk, length)):
            rs = no_reset if resets is None else resets[:, t]
            if resets is not None:
                x = torch.where(rs[:, None], reset_state.double(), x)
            a = A[tokens[:, t]]
            x = matvec_ref(a, x)
            out.append(x)
            prod = a if prod is None else torch.where(rs[:, None, None], a, matmul_ref(a, prod))
        if resets is not None:
            hit = resets[:, lo : lo + chunk].any(1)
            carry = torch.where(hit[:, None], reset_state.double(), carry)
        carry = matvec_ref(prod, carry)
    return torch.stack(out, dim=1)


def _check(fn, ref_fn, batch: int, length: int, dim: int, resets: bool, seed: int = 0) -> None:
    A, tokens, x0, rst, rstate, weight = _inputs(batch, length, dim, resets, seed=seed)
    leaves = [A, x0] + ([rstate] if resets else [])
    ref_leaves = [t.double().requires_grad_() for t in leaves]
    kern_leaves = [t.to(DEVICE).requires_grad_() for t in leaves]
    ref_args = ref_leaves if resets else [*ref_leaves, None]
    kern_args = kern_leaves if resets else [*kern_leaves, None]
    ref = ref_fn(ref_args[0], tokens, ref_args[1], rst, ref_args[2])
    out = fn(
        kern_args[0],
        tokens.to(DEVICE),
        kern_args[1],
        resets=None if rst is None else rst.to(DEVICE),
        reset_state=kern_args[2],
    )
    assert torch.isfinite(out).all()
    assert _rel(out, ref) <= TOL
    (ref * weight.double()).sum().backward()
    (out * weight.to(DEVICE)).sum().backward()
    for kern, refl in zip(kern_leaves, ref_leaves, strict=True):
        assert torch.isfinite(kern.grad).all()
        assert _rel(kern.grad, refl.grad) <= TOL, (kern.grad, refl.grad)


@pytest.mark.parametrize("resets", [False, True])
@pytest.mark.parametrize(("batch", "length", "dim"), [(3, 12, 4), (2, 9, 8), (3, 7, 5)])
def test_fused_matches_reference(batch: int, length: int, dim: int, resets: bool) -> None:
    _check(fused_recurrent_scan, sequential_scan_ref, batch, length, dim, resets)


@pytest.mark.parametrize("resets", [False, True])
@pytest.mark.parametrize(("batch", "length", "dim"), [(2, 12, 4), (3, 10, 8), (1, 11, 5)])
def test_chunked_matches_reference(batch: int, length: int, dim: int, resets: bool) -> None:
    def chunked(*args, **kwargs):
        return chunked_scan(*args, **kwargs, chunk=4)

    def reference(*args):
        return chunked_ref(*args, chunk=4)

    _check(chunked, reference, batch, length, dim, resets, seed=1)


def test_saturated_parameters_stay_finite() -> None:
    A, tokens, x0, rst, rstate, weight = _inputs(2, 40, 8, True, scale=1e3, seed=2)
    args = [t.to(DEVICE).requires_grad_() for t in (A, x0, rstate)]
    for fn in (fused_recurrent_scan, chunked_scan):
        out = fn(args[0], tokens.to(DEVICE), args[1], resets=rst.to(DEVICE), reset_state=args[2])
        (out * weight.to(DEVICE)).sum().backward()
        assert torch.isfinite(out).all()
        assert all(torch.isfinite(t.grad).all() for t in args)


@pytest.mark.parametrize("method", ["fused", "chunked"])
def test_boolean_scan_dispatches_to_kernels(method: str) -> None:
    A, tokens, x0, _, _, _ = _inputs(2, 8, 4, False)
    A, tokens, x0 = A.to(DEVICE), tokens.to(DEVICE), x0.to(DEVICE)
    kernel = fused_recurrent_scan if method == "fused" else chunked_scan
    assert torch.equal(boolean_scan(A, tokens, x0, method=method), kernel(A, tokens, x0))


@pytest.mark.skipif(not ON_GPU, reason="long sequences need a GPU")
def test_long_sequence_stays_finite_on_gpu() -> None:
    A, tokens, x0, rst, rstate, _ = _inputs(2, 65536, 16, True, scale=30.0, seed=3)
    args = [t.cuda().requires_grad_() for t in (A, x0, rstate)]
    for fn in (fused_recurrent_scan, chunked_scan):
        out = fn(args[0], tokens.cuda(), args[1], resets=rst.cuda(), reset_state=args[2])
        out.square().mean().backward()
        assert torch.isfinite(out).all()
        assert all(torch.isfinite(t.grad).all() for t in args)
