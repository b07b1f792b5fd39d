"""Run a benchmark's grid as Ray tasks: on this machine by default, on a Ray cluster by address.

Each run of ``benchmarks/results.py``, ``benchmarks/rl.py`` or ``benchmarks/automata.py``
(chosen by the benchmark's own options; as with the script alone, a run whose JSON exists is
skipped) becomes a Ray task that declares the CPUs, and for a CUDA run the GPU, it needs.
Without ``--address`` a local Ray instance starts inside this process with ``--jobs`` × (CPUs
per run) CPUs, so ``--jobs`` runs go at once, as with the script alone; ``--address`` joins a
running cluster (``auto`` on one of its nodes, or ``HOST:PORT`` of its head), whose free CPUs
and GPUs decide how many go at once.

A run whose worker dies (the process killed, a node lost) is retried by Ray, ``--retries``
times at most, and continues from its own checkpoint: a results run from the last checkpoint
``agents.train`` wrote (its JSON names that step, ``resumed_from_step``); with ``--force`` the
old checkpoints are removed first, so only a retry resumes. An RL run keeps no checkpoint and
starts over. Every run writes its JSON atomically, and the docs are rendered from the JSONs
that exist when the grid ends, fails or is interrupted, so a partial grid renders. One bar
shows the grid (runs done, running, failed); each run's output is appended, one block per
attempt, to ``OUT/logs/<run>.log``.

On a cluster, ``--out`` must be a folder that every node sees at the same path (a shared file
system), and every node needs memgym installed with the ``[sweep]`` extra; the benchmark
scripts themselves travel with the tasks. A benchmark joins the sweep with an entry in
``GRIDS``: a function from its options to a :class:`Grid`.

    python benchmarks/sweep.py results --presets RememberEasy CountEasy --seeds 3 --jobs 2
    python benchmarks/sweep.py --address auto results --presets RememberEasy CountEasy --seeds 3
    python benchmarks/sweep.py rl --envs RememberMedium --seeds 3 --jobs 2
    python benchmarks/sweep.py automata --learners rpni lstar
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from tqdm.auto import tqdm


@dataclass(frozen=True)
class Run:
    """One run of a grid, as the sweep schedules it."""

    name: str  # unique in the grid; names the run's log
    job: Any  # the benchmark's description of the run: the argument of ``Grid.execute``
    cpus: float  # CPUs the run needs (Ray's ``num_cpus``)
    gpus: float = 0.0  # GPUs the run needs (Ray's ``num_gpus``)


@dataclass(frozen=True)
class Grid:
    """A benchmark's runs, the function that does one, and what renders its docs."""

    runs: list[Run]
    execute: Callable[[Any], Any]  # does one run (in a Ray worker) and writes its JSON
    render: Callable[[], None]  # writes the docs from whatever JSONs exist
    logs: Path  # the folder of the per-run logs
    local_cpus: int  # CPUs of a local Ray instance: the benchmark's --jobs × CPUs per run


def results_grid(argv: Sequence[str], cpus_per_run: int | None = None) -> Grid:
    """The grid of ``benchmarks/results.py`` for its options ``argv``.

    ``cpus_per_run`` sets each run's CPUs and torch threads (by default this machine's cores
    divided by ``--jobs``, as the script does). Raises ``ValueError`` for ``--speed``, which
    measures one machine and is no grid, and for a numbered CUDA device: Ray gives each CUDA
    run a GPU of its choosing, ``cuda`` in the run."""
    import results

    args = results.parse_args(list(argv))
    if args.speed:
        raise ValueError("--speed measures this machine; run benchmarks/results.py --speed")
    if args.device.startswith("cuda:"):
        raise ValueError(f"--device {args.device}: Ray picks each run's GPU; use --device cuda")
    args.out = args.out.resolve()
    docs = (args.docs or args.out / "docs").resolve()
    runs = []
    for job in [] if args.render else results.grid(args):
        if cpus_per_run is not None:
            job = replace(job, threads=cpus_per_run)
        if not job.resume:  # --force: start afresh, and let a retry continue
            shutil.rmtree(results.checkpoint_dir(args.out, job), ignore_errors=True)
        gpus = 1.0 if job.device.startswith("cuda") else 0.0
        runs.append(Run(results.run_name(job), replace(job, resume=True), job.threads, gpus))
    threads = cpus_per_run or max(1, (os.cpu_count() or 1) // args.jobs)
    _send_by_value(results)
    return Grid(
        runs=runs,
        execute=partial(results.run_job, out=args.out),
        render=partial(results.render, args.out, docs),
        logs=args.out / "logs",
        local_cpus=args.jobs * threads,
    )


def rl_grid(argv: Sequence[str], cpus_per_run: int | None = None) -> Grid:
    """The grid of ``benchmarks/rl.py`` for its options ``argv`` (one CPU a run: the runs are
    single-threaded). Raises ``ValueError`` if ``cpus_per_run`` is given; ``rl.parse_args``
    refuses the options it refuses (``--jobs`` below 1, ...)."""
    if cpus_per_run is not None:
        raise ValueError("--cpus-per-run is for results runs; an RL run uses one CPU")
    import rl

    args = rl.parse_args(list(argv))
    args.out = str(Path(args.out).resolve())
    jobs = [job for job in rl.grid(args) if not rl.record_path(job).exists()]
    _send_by_value(rl)
    return Grid(
        runs=[Run(rl.record_path(job).stem, job, cpus=1) for job in jobs],
        execute=rl.run_job,
        render=partial(rl.write_report, Path(args.out), args.write_docs),
        logs=Path(args.out) / "logs",
        local_cpus=args.jobs,
    )


def automata_grid(argv: Sequence[str], cpus_per_run: int | None = None) -> Grid:
    """The grid of ``benchmarks/automata.py`` for its options ``argv`` (one CPU a run). Its
    GRU and LSTM runs read the boolean RNN's records: sweep ``--learners boolean`` first.
    Raises ``ValueError`` if ``cpus_per_run`` is given."""
    if cpus_per_run is not None:
        raise ValueError("--cpus-per-run is for results runs; an automata run uses one CPU")
    import automata

    args = automata.parse_args(list(argv))
    args.out = args.out.resolve()
    jobs = [] if args.render else automata.grid(args)
    _send_by_value(automata)
    return Grid(
        runs=[Run(automata.record_name(job), job, cpus=1) for job in jobs],
        execute=partial(automata.run_job, out=args.out),
        render=partial(automata.render, args.out, args.docs.resolve()),
        logs=args.out / "logs",
        local_cpus=os.cpu_count() or 1,
    )


GRIDS: dict[str, Callable[[Sequence[str], int | None], Grid]] = {
    "results": results_grid,
    "rl": rl_grid,
    "automata": automata_grid,
}
"""The benchmarks a sweep runs, by name."""


def _send_by_value(script: ModuleType) -> None:
    """Pickle the functions and classes of a benchmark script, of ``common`` and of this module
    by value: they are not an installed package, so Ray workers could not import them."""
    from ray import cloudpickle

    for module in (script, sys.modules["common"], sys.modules[__name__]):
        cloudpickle.register_pickle_by_value(module)


def attempt(execute: Callable[[Any], Any], job: Any, log: Path) -> None:
    """One attempt at a run, in a Ray worker; its output is appended to ``log``, after a line
    naming the host and process."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        log.open("a", buffering=1) as stream,
        contextlib.redirect_stdout(stream),
        contextlib.redirect_stderr(stream),
    ):
        print(f"{time.strftime('%F %T')} attempt on {socket.gethostname()}, pid {os.getpid()}")
        try:
            execute(job)
        except BaseException:
            traceback.print_exc()
            raise
        print(f"{time.strftime('%F %T')} run done")


def run_grid(grid: Grid, retries: int = 3, poll: float = 1.0) -> list[str]:
    """Run every run of ``grid`` as a Ray task on the Ray instance this process is connected to,
    then render the docs (also when a run fails or the sweep is interrupted).

    ``retries``: how many times Ray reruns a run whose worker died; an error raised by the run
    itself is not retried. ``poll``: seconds between updates of the bar. Returns the names of
    the runs that failed. Raises ``RuntimeError`` when Ray is not initialised."""
    import ray

    if not ray.is_initialized():
        raise RuntimeError("run_grid needs a Ray instance: call ray.init() first")
    task = ray.remote(attempt)
    pending: dict[Any, tuple[Run, Path, int]] = {}
    for run in grid.runs:
        log = grid.logs / f"{run.name}.log"
        size = log.stat().st_size if log.exists() else 0  # the log grows when an attempt starts
        options = dict(num_cpus=run.cpus, num_gpus=run.gpus, max_retries=retries, name=run.name)
        pending[task.options(**options).remote(grid.execute, run.job, log)] = (run, log, size)
    failed: list[str] = []
    bar = tqdm(total=len(grid.runs), unit="run", desc="sweep")
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=poll)
            for ref in ready:
                run, log, _ = pending.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as error:
                    failed.append(run.name)
                    tqdm.write(f"{run.name} failed ({type(error).__name__}); its log: {log}")
                bar.update()
            running = sum(
                log.exists() and log.stat().st_size > size for _, log, size in pending.values()
            )
            bar.set_postfix(done=bar.n - len(failed), running=running, failed=len(failed))
    finally:
        bar.close()
        grid.render()
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the grid, render the docs; the exit status is 1 if a run failed."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage="%(prog)s [--address ADDRESS] [--cpus-per-run N] [--retries N] "
        "{results,rl,automata} [benchmark options]",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--address", help="join this Ray cluster (auto, HOST:PORT) instead of a local Ray"
    )
    parser.add_argument(
        "--cpus-per-run",
        type=int,
        help="results runs: CPUs and torch threads of each (default: this machine's cores "
        "/ --jobs)",
    )
    parser.add_argument(
        "--retries", type=int, default=3, help="times Ray reruns a run whose worker died"
    )
    parser.add_argument("benchmark", choices=GRIDS)
    parser.add_argument(
        "options", nargs=argparse.REMAINDER, help="the benchmark's own options (see its --help)"
    )
    args = parser.parse_args(argv)
    if args.cpus_per_run is not None and args.cpus_per_run < 1:
        parser.error(f"--cpus-per-run must be at least 1, got {args.cpus_per_run}")
    if args.retries < 0:
        parser.error(f"--retries must not be negative, got {args.retries}")
    try:
        import ray
    except ModuleNotFoundError:
        parser.error("sweeps need Ray: pip install 'memgym[sweep]'")
    try:
        grid = GRIDS[args.benchmark](args.options, args.cpus_per_run)
    except ValueError as error:
        parser.error(str(error))
    if not grid.runs:
        grid.render()
        return 0
    try:
        if args.address:
            ray.init(address=args.address, log_to_driver=False)
        else:
            ray.init(num_cpus=grid.local_cpus, include_dashboard=False, log_to_driver=False)
    except ConnectionError as error:
        parser.error(f"cannot join the Ray cluster at {args.address}: {error}")
    try:
        failed = run_grid(grid, retries=args.retries)
    except KeyboardInterrupt:
        print(f"interrupted; the docs show the runs done; logs in {grid.logs}", file=sys.stderr)
        return 130
    finally:
        ray.shutdown()
    done = len(grid.runs) - len(failed)
    print(f"{done} of {len(grid.runs)} runs done; logs in {grid.logs}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
