"""The boolean scan: every state of ``x_{t+1} = A[a_t] ⊗ x_t`` over a batch of token sequences.

One entry point, :func:`boolean_scan`, and several interchangeable implementations:

============== ======================================================== =============
method         what it does                                              where
============== ======================================================== =============
sequential     step-by-step recurrence, D² terms a step, hand backward  CPU and CUDA
compiled       the same, each step fused by torch.compile (D >= 64)      CPU
hillis_steele  the note's doubling prefix scan over matrices            CPU and CUDA
blelloch       work-efficient (chunked) matrix prefix scan              CPU and CUDA
fused          Triton: whole sequence in one launch, state on chip      CUDA
chunked        Triton: chunk products, carry, mat·vec inside chunks     CUDA
============== ======================================================== =============

``method="auto"`` picks by device and shape (see :func:`choose_method`).

Shapes: ``A`` is ``(V, D, D)`` (one matrix per act token), ``tokens`` ``(B, T)`` int64,
``x0`` ``(B, D)``; optional ``resets`` ``(B, T)`` bool with ``reset_state`` ``(D,)``: where
``resets[b, t]`` is true the state is replaced by ``reset_state`` before ``tokens[b, t]`` is read.
The result is ``(B, T, D)``: ``out[:, t]`` is the state after reading ``tokens[:, t]``.

``⊗`` is not associative at finite values, so the matrix scans differ slightly from
``sequential`` until the parameters saturate; in the boolean limit every method agrees exactly.
All methods expect entries within ``±PARAM_BOUND`` (the model guarantees it).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import Tensor

from agents.errors import UsageError
from agents.ops.scan import naive

ScanFn = Callable[..., Tensor]

CPU_METHODS = ("sequential", "compiled", "hillis_steele", "blelloch")
GPU_METHODS = ("fused", "chunked")
METHODS = ("auto", *CPU_METHODS, *GPU_METHODS)

# Below this many sequences per program-filling batch and above this length, the chunked matrix
# scan beats the fused recurrent kernel on an H100 (docs/kernels.md has the crossover table).
CHUNKED_MAX_BATCH = 4
CHUNKED_MIN_LENGTH = 8192


def _resolve(method: str) -> ScanFn:
    if method == "sequential":
        return naive.sequential_scan
    if method == "compiled":
        from agents.ops.scan.compiled import compiled_scan

        return compiled_scan
    if method == "hillis_steele":
        return naive.hillis_steele_scan
    if method == "blelloch":
        return naive.blelloch_scan
    if method == "fused":
        from agents.ops.scan.fused_recurrent import fused_recurrent_scan

        return fused_recurrent_scan
    if method == "chunked":
        from agents.ops.scan.chunked import chunked_scan

        return chunked_scan
    raise ValueError(f"unknown scan method {method!r}; choose one of {METHODS}")


def choose_method(device: torch.device, batch_size: int, length: int) -> str:
    """The method ``auto`` runs for this device and shape."""
    if device.type != "cuda":
        return "sequential"
    if batch_size <= CHUNKED_MAX_BATCH and length >= CHUNKED_MIN_LENGTH:
        return "chunked"
    return "fused"


def boolean_scan(
    A: Tensor,
    tokens: Tensor,
    x0: Tensor,
    *,
    resets: Tensor | None = None,
    reset_state: Tensor | None = None,
    method: str = "auto",
) -> Tensor:
    """All states of the boolean recurrence; see the module docstring for shapes and methods."""
    _check_inputs(A, tokens, x0, resets, reset_state)
    check_method(method, A.device)
    if method == "auto":
        method = choose_method(A.device, tokens.shape[0], tokens.shape[1])
    return _resolve(method)(A, tokens, x0, resets=resets, reset_state=reset_state)


def runs_on(method: str, device: torch.device) -> bool:
    """Whether ``method`` runs on tensors on ``device``: the Triton methods need CUDA (or
    ``TRITON_INTERPRET=1``), the others run anywhere."""
    return method not in GPU_METHODS or device.type == "cuda" or interpreting()


def check_method(method: str, device: torch.device) -> None:
    """Raise :class:`~agents.errors.UsageError` when ``method`` is unknown or cannot run on
    ``device``, naming the methods that can."""
    usable = [m for m in METHODS if runs_on(m, device)]
    if method not in METHODS:
        raise UsageError(f"unknown scan method {method!r}; choose one of {', '.join(usable)}")
    if not runs_on(method, device):
        raise UsageError(
            f"scan method {method!r} needs a CUDA tensor, got one on {device}; on {device.type} "
            f"choose one of {', '.join(usable)}"
        )


def runnable_method(method: str, device: torch.device) -> str:
    """``method`` where it runs on ``device``, else ``"auto"``: a model trained with a CUDA
    kernel still runs on the CPU."""
    return method if runs_on(method, device) else "auto"


def interpreting() -> bool:
    """Whether Triton kernels run under its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def _check_inputs(
    A: Tensor, tokens: Tensor, x0: Tensor, resets: Tensor | None, reset_state: Tensor | None
) -> None:
    if A.dim() != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must be (V, D, D), got {tuple(A.shape)}")
    if not A.is_floating_point():
        raise TypeError(f"A must be a floating tensor, got {A.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (B, T), got {tuple(tokens.shape)}")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"tokens must be int64 or int32, got {tokens.dtype}")
    D = A.shape[1]
    if x0.shape != (tokens.shape[0], D):
        raise ValueError(f"x0 must be (B, D) = {(tokens.shape[0], D)}, got {tuple(x0.shape)}")
    if resets is not None:
        if resets.shape != tokens.shape or resets.dtype != torch.bool:
            raise ValueError(
                f"resets must be a bool tensor shaped like tokens {tuple(tokens.shape)}"
            )
        if reset_state is None or reset_state.shape != (D,):
            raise ValueError(f"resets need a reset_state of shape ({D},)")
