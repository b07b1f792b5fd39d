"""Boolean-scan kernels against PyTorch scans and cuDNN GRU/LSTM, with the hardware floor.

    python benchmarks/kernels.py --out results.json          # full grid (needs CUDA)
    python benchmarks/kernels.py --quick --out results.json  # D=64, (256, 1024) only

For each D and (B, T) it times forward and forward+backward (CUDA events, median of repeats),
reports tokens/s and peak memory, and the fraction of the floor reached. The floor is
``max(terms / term rate, bytes / bandwidth)``: a term is one add and one reciprocal; forward needs
``B·T·D²`` terms, forward+backward at least ``2·B·T·D²`` (the backward must see every term once
more; the fused kernel spends ``3·B·T·D²``, recomputing the terms once for the state gradient and
once for the table gradient). The term rate is measured by a Triton kernel doing nothing but
``x ← 1/(x + c)`` with MUFU.RCP, the bandwidth by a device-to-device copy. Bytes: the tokens and
the states (forward), plus the output gradient (backward).

Hillis–Steele (the note's doubling scan, ``naive.hillis_steele_scan``) materialises ``B·T·D³``
intermediates per level: it runs on the largest sub-batch that fits and is scaled to ``B``.
The eager loop (``naive.sequential_scan``, one PyTorch step per token with a hand-written reverse
pass) runs on at most ``--eager-steps`` tokens and is scaled to ``T``. Scaled figures are marked.
Last, the full training step (data, forward, loss, backward, Adam) on RepeatHard: boolean RNN vs
cuDNN GRU and LSTM at the same state size, tokens/s, interleaved in one run (``--no-train-step``
skips it).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable

import torch
import triton
import triton.language as tl

from agents.ops.scan import boolean_scan, choose_method
from agents.ops.scan.chunked import chunked_scan
from agents.ops.scan.fused_recurrent import fused_recurrent_scan, rcp
from agents.ops.scan.naive import hillis_steele_scan, sequential_scan

DIMS = (16, 32, 64, 128)
SHAPES = ((1, 65536), (16, 4096), (256, 1024), (1024, 256))
VOCAB = 8
RNN_MAX_STEPS = 32768
CHUNKED_MAX_TERMS = 2e11  # B·T·D³ above which the chunked scan is skipped (minutes of work)


@triton.jit
def _term_rate_kernel(x_ptr, iters, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    c = x * 0.5 + 1.0
    for _ in range(iters):
        x = rcp(x + c, True)
    tl.store(x_ptr + offs, x)


def _time(fn: Callable[[], object], budget_s: float = 0.3, max_reps: int = 10) -> float:
    """Median milliseconds of ``fn`` over repeats that fit ``budget_s`` (after one warm-up)."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    first = start.elapsed_time(end)
    reps = min(max_reps, int(budget_s * 1e3 / max(first, 1e-3)))
    times = [first]
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def measure_floor() -> dict[str, float]:
    """Term rate (add + MUFU.RCP per second) and copy bandwidth (bytes read + written per s)."""
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    block, iters = 4096, 4096
    x = torch.rand(8 * sms * block, device="cuda") + 1.0
    ms = _time(lambda: _term_rate_kernel[(8 * sms,)](x, iters, BLOCK=block, num_warps=4))
    rate = x.numel() * iters / (ms * 1e-3)
    src = torch.empty(2**28, device="cuda").uniform_()
    dst = torch.empty_like(src)
    ms_copy = _time(lambda: dst.copy_(src))
    return {"term_rate": rate, "bandwidth": 2 * src.numel() * 4 / (ms_copy * 1e-3)}


def _floor_ms(batch: int, length: int, dim: int, backward: bool, floor: dict[str, float]) -> float:
    terms = (2 if backward else 1) * batch * length * dim**2
    nbytes = batch * length * (4 + 4 * dim * (2 if backward else 1))
    return 1e3 * max(terms / floor["term_rate"], nbytes / floor["bandwidth"])


def _scan_case(
    scan: Callable[..., torch.Tensor], batch: int, length: int, dim: int, backward: bool
) -> Callable[[], object]:
    gen = torch.Generator(device="cuda").manual_seed(0)
    A = (3 * torch.randn(VOCAB, dim, dim, device="cuda", generator=gen)).clamp(-30, 30)
    x0 = (3 * torch.randn(batch, dim, device="cuda", generator=gen)).clamp(-30, 30)
    tokens = torch.randint(0, VOCAB, (batch, length), device="cuda", generator=gen)
    A.requires_grad_(backward)
    x0.requires_grad_(backward)
    grad = torch.randn(batch, length, dim, device="cuda", generator=gen) if backward else None

    def run() -> None:
        if backward:
            scan(A, tokens, x0).backward(grad)
            A.grad = x0.grad = None
        else:
            with torch.no_grad():
                scan(A, tokens, x0)

    return run


def _rnn_case(kind: str, batch: int, length: int, dim: int, backward: bool) -> Callable[[], object]:
    rnn = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(dim, dim, batch_first=True).cuda()
    x = torch.randn(batch, length, dim, device="cuda", requires_grad=backward)
    grad = torch.randn(batch, length, dim, device="cuda") if backward else None

    def forward() -> torch.Tensor:
        # cuDNN refuses sequences longer than 32768 steps: run them in pieces, carrying the state.
        outs, state = [], None
        for piece in x.split(RNN_MAX_STEPS, dim=1):
            out, state = rnn(piece, state)
            outs.append(out)
        return torch.cat(outs, dim=1)

    def run() -> None:
        if backward:
            forward().backward(grad)
            rnn.zero_grad(set_to_none=True)
            x.grad = None
        else:
            with torch.no_grad():
                forward()

    return run


def _measure(
    make: Callable[[int, int, bool], Callable[[], object]],
    batch: int,
    length: int,
    backward: bool,
) -> dict[str, float | str]:
    torch.cuda.empty_cache()
    try:
        run = make(batch, length, backward)
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        ms = _time(run)
        peak = torch.cuda.max_memory_allocated() - base
    except torch.OutOfMemoryError:
        return {"status": "oom"}
    except Exception as err:  # a failing baseline must not stop the table
        return {"status": f"error: {type(err).__name__}: {err}"[:200]}
    finally:
        torch.cuda.empty_cache()
    return {"ms": ms, "peak_mb": peak / 2**20}


def _hillis_steele_size(batch: int, length: int, dim: int) -> tuple[int, int]:
    """Largest sub-batch (then prefix) whose ``B·T·D³`` intermediates fit 60% of free memory."""
    budget = 0.6 * torch.cuda.mem_get_info()[0]
    while length >= 2:
        per_row = 4 * length * dim**3 * (3 * math.ceil(math.log2(length)) + 4)
        if per_row <= budget:
            return min(batch, 1 << int(math.log2(budget / per_row))), length
        length //= 2
    return 0, 0


def _work_scale(batch: int, length: int, sub_b: int, sub_t: int, log_steps: bool) -> float:
    """How much longer the full problem runs than the measured sub-problem."""
    scale = batch / sub_b * length / sub_t
    return scale * (math.log2(length) / math.log2(sub_t) if log_steps else 1.0)


def bench_case(
    batch: int, length: int, dim: int, floor: dict[str, float], eager_steps: int
) -> list[dict]:
    """All methods at one (B, T, D), forward and forward+backward."""
    scans = {
        "fused": fused_recurrent_scan,
        "chunked": chunked_scan,
        "auto": lambda A, t, x: boolean_scan(A, t, x, method="auto"),
        "eager_loop": sequential_scan,
        "hillis_steele": hillis_steele_scan,
    }
    rows = []
    for name in [*scans, "gru", "lstm"]:
        for backward in (False, True):
            sub_b, sub_t, note = batch, length, ""
            if name == "hillis_steele":
                sub_b, sub_t = _hillis_steele_size(batch, length, dim)
                if 0 < sub_b * sub_t < batch * length:
                    note = f"B={sub_b}, T={sub_t}, scaled"
            if name == "eager_loop" and length > eager_steps:
                sub_t, note = eager_steps, f"T={eager_steps}, scaled"
            row = {"method": name, "B": batch, "T": length, "D": dim, "backward": backward}
            if name == "auto":
                row["picks"] = choose_method(torch.device("cuda"), batch, length)
            if sub_b == 0:
                rows.append({**row, "status": "oom"})
                continue
            if name == "chunked" and batch * length * dim**3 > CHUNKED_MAX_TERMS:
                rows.append({**row, "status": "skipped (B·T·D³ work)"})
                continue
            if name in ("gru", "lstm"):
                result = _measure(
                    lambda b, t, bw, kind=name: _rnn_case(kind, b, t, dim, bw),
                    sub_b,
                    sub_t,
                    backward,
                )
            else:
                result = _measure(
                    lambda b, t, bw, fn=scans[name]: _scan_case(fn, b, t, dim, bw),
                    sub_b,
                    sub_t,
                    backward,
                )
            if "ms" in result:
                result["ms"] *= _work_scale(batch, length, sub_b, sub_t, name == "hillis_steele")
                result["tokens_per_s"] = batch * length / (result["ms"] * 1e-3)
                result["floor_fraction"] = (
                    _floor_ms(batch, length, dim, backward, floor) / result["ms"]
                )
                if note:
                    result["note"] = note
            rows.append({**row, **result})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """One line per (B, T, D) and method: fwd and fwd+bwd ms, tokens/s, memory, floor fraction."""
    out = [
        "| B | T | D | method | fwd ms | fwd+bwd ms | fwd+bwd tok/s | peak MB "
        "| floor fwd | floor f+b |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    keyed: dict[tuple, dict[bool, dict]] = {}
    for row in rows:
        keyed.setdefault((row["B"], row["T"], row["D"], row["method"]), {})[row["backward"]] = row

    def cell(row: dict, key: str, fmt: str) -> str:
        if key not in row:
            return row.get("status", "")
        text = format(row[key], fmt)
        return text + ("*" if row.get("note") else "")

    for (b, t, d, name), pair in keyed.items():
        fwd, both = pair[False], pair[True]
        label = name + (f" ({fwd['picks']})" if "picks" in fwd else "")
        out.append(
            f"| {b} | {t} | {d} | {label} | {cell(fwd, 'ms', '.3f')} | {cell(both, 'ms', '.3f')} "
            f"| {cell(both, 'tokens_per_s', '.3g')} | {cell(both, 'peak_mb', '.0f')} "
            f"| {cell(fwd, 'floor_fraction', '.1%')} | {cell(both, 'floor_fraction', '.1%')} |"
        )
    return "\n".join(out) + "\n\n(* scaled from a sub-batch or a prefix of the sequence)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="path of the JSON results")
    parser.add_argument("--quick", action="store_true", help="D=64 at (256, 1024) only")
    parser.add_argument("--dims", type=int, nargs="*", default=list(DIMS))
    parser.add_argument("--eager-steps", type=int, default=1024)
    parser.add_argument("--no-train-step", action="store_true", help="skip the training step")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/kernels.py needs a CUDA device")
    dims, shapes = ((64,), ((256, 1024),)) if args.quick else (args.dims, SHAPES)
    started = time.time()
    floor = measure_floor()
    print(json.dumps(floor), flush=True)
    rows = []
    for dim in dims:
        for batch, length in shapes:
            rows.extend(bench_case(batch, length, dim, floor, args.eager_steps))
    props = torch.cuda.get_device_properties(0)
    result = {
        "device": props.name,
        "sms": props.multi_processor_count,
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "floor": floor,
        "seconds": time.time() - started,
        "rows": rows,
        "train_step": [] if args.no_train_step else train_step_rows(dims),
    }
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(markdown(rows))
    for row in result["train_step"]:
        print(json.dumps(row))


def train_step_rows(dims: list[int], repeats: int = 3, steps: int = 30) -> list[dict]:
    """Training-step tokens/s on RepeatHard per model kind and state size (medians, interleaved)."""
    from results import training_tokens_per_second  # benchmarks/results.py, beside this script

    rows = []
    for dim in dims:
        speeds: dict[str, list[float]] = {"boolean": [], "gru": [], "lstm": []}
        for _ in range(repeats):
            for kind, runs in speeds.items():
                runs.append(training_tokens_per_second(kind, dim, "cuda", steps, "RepeatHard"))
        rows.append({"D": dim, **{k: statistics.median(v) for k, v in speeds.items()}})
    return rows


if __name__ == "__main__":
    main()
