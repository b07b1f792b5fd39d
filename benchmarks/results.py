"""Learning results: the boolean RNN beside GRU and LSTM on the memgym presets.

For each preset and model (same state size, same step budget) this trains with
``agents.train``, evaluates at 1×/4×/10×/100× length (``agents.evaluate``), extracts and
verifies the boolean automaton (``agents.extract``), and writes one JSON per run under
``OUT/runs/`` (checkpoints under ``OUT/checkpoints/``; a seed other than 0 is in the names).
The table ``results.md`` and the learning curves ``curves-*.png`` (in ``OUT/docs/``, or
``--docs DIR``) are rendered from every JSON found, so rows made in different invocations (CPU
rows here, GPU rows there) merge; a run whose JSON exists is skipped unless ``--force``, and an
interrupted run resumes from its checkpoint (``--force`` starts it over). Rendering also keeps
each run's record, less its per-step losses, under ``DOCS/runs/`` and reads those back, so the
committed docs hold every row's data and a later run on another machine replaces only its own
rows. The page links the lab notebook ``docs/results-notes.md`` (what was tried) rather than
holding it.

    python benchmarks/results.py --presets RememberEasy CountEasy RepeatEasy --jobs 2
    python benchmarks/results.py --presets RememberHard --device cuda --steps 20000
    python benchmarks/results.py --presets CountEasy --seeds 3   # seeds 0, 1, 2: a row each
    python benchmarks/results.py --speed            # training tokens/s, boolean RNN vs LSTM
    python benchmarks/results.py --render           # only re-render docs from the JSONs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from common import env_id, merge_records

from agents.baselines import MODEL_KINDS, build_model
from agents.checkpoint import CHECKPOINT_DIR, read_config
from agents.evaluate import evaluate
from agents.extract import Automaton, verify
from agents.ops.scan import METHODS as SCAN_METHODS
from agents.recipes import PRESET_NAMES, recipe
from agents.train import (
    TrainConfig,
    batch_seed,
    masked_ce_loss,
    state_dim_for,
    to_tensors,
    train,
)
from memgym import batch_rollouts

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Job:
    """One training run of the table."""

    preset: str
    model: str
    steps: int
    device: str
    scan: str  # the boolean RNN's scan method (ignored by the baselines)
    seed: int
    threads: int
    command: str
    resume: bool  # continue from the run's checkpoint if an earlier attempt was interrupted


def train_config(job: Job) -> TrainConfig:
    """The training run of a job: the defaults with the preset's step cap
    (``agents.recipes``) for its model, seed and device."""
    config = recipe(job.preset, job.model, steps=job.steps, seed=job.seed, device=job.device)
    return replace(config, scan=job.scan)


def run_name(job: Job) -> str:
    """The name of a job's record and checkpoint: ``CountEasy-gru``, ``CountEasy-gru-seed1``."""
    return f"{job.preset}-{job.model}" + (f"-seed{job.seed}" if job.seed else "")


def record_path(out: Path, job: Job) -> Path:
    """Where a job's JSON goes."""
    return out / "runs" / f"{run_name(job)}.json"


def checkpoint_dir(out: Path, job: Job) -> Path:
    """Where a job's checkpoints go (``train``'s ``out_dir``)."""
    return out / "checkpoints" / run_name(job)


def run_job(job: Job, out: Path) -> dict[str, Any]:
    """Train, evaluate and (for the boolean RNN) extract; write and return the run's JSON.

    The JSON is written atomically; ``resumed_from_step`` in it is the step of the checkpoint
    the run continued from (``None`` when it started afresh)."""
    torch.set_num_threads(job.threads)
    config = train_config(job)
    checkpoint = checkpoint_dir(out, job)
    resumed_from = None
    if job.resume and (checkpoint / CHECKPOINT_DIR).exists():
        resumed_from = read_config(checkpoint / CHECKPOINT_DIR)["state"]["step"]
    result = train(config, out_dir=checkpoint, resume=resumed_from is not None, progress=False)
    accuracy = evaluate(result.model, config.env_id, device=job.device)
    record: dict[str, Any] = {
        "preset": job.preset,
        "model": job.model,
        "state_dim": result.model.state_dim,
        "steps": job.steps,
        "device": device_name(job.device),
        "command": job.command,
        "train_config": asdict(config),
        "steps_to_perfect": result.steps_to_perfect,
        "seconds_to_perfect": result.seconds_to_perfect,
        "harden_from": result.harden_from,
        "verified_at": result.verified_at,
        "verified_by": result.verified_by,
        "seconds_to_verified": result.seconds_to_verified,
        "steps_trained": result.step,
        "resumed_from_step": resumed_from,
        "resampled_at": result.resampled_at,
        "merge_draws": result.merge_draws,
        "seconds": result.seconds,
        "accuracy": {str(k): v for k, v in accuracy.accuracy.items()},
        "eval_steps": result.eval_steps,
        "eval_accuracy": result.eval_accuracy,
        "loss": result.loss,
    }
    if accuracy.scan_gap is not None:
        record["scan_gap"] = asdict(accuracy.scan_gap)
    if job.model == "boolean":
        check = verify(Automaton.from_model(result.model.cpu()), config.env_id)
        record["automaton"] = {
            "verified": check.verified,
            "bits_used": len(check.used_bits),
            "states": check.num_states,
            "hand_built_bits": check.hand_built_bits,
            "exhaustive_episodes": check.exhaustive_episodes,
            "random_episodes": check.random_episodes,
        }
    path = record_path(out, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return record


def device_name(device: str) -> str:
    """The device in words (GPU model or CPU)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({os.cpu_count()} cores)"


def training_tokens_per_second(
    kind: str,
    state_dim: int,
    device: str,
    steps: int,
    preset: str = "RepeatEasy",
    scan: str = "auto",
) -> float:
    """Training throughput (act tokens a second, forward + backward + Adam) of one model
    (``scan``: the boolean RNN's scan method)."""
    config = TrainConfig(env_id=env_id(preset), model=kind, state_dim=state_dim, device=device)
    rollouts = batch_rollouts(config.env_id, config.batch_size, batch_seed(0, 0, 0))
    act, target, mask = to_tensors(rollouts, torch.device(device))
    model = build_model(
        kind,
        {
            "num_act_tokens": len(rollouts.act_tokens),
            "num_obs_tokens": len(rollouts.obs_tokens),
            "state_dim": state_dim,
            **({"scan": scan} if kind == "boolean" else {}),
        },
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def one_step() -> None:
        loss = masked_ce_loss(model(act), target, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    one_step()  # warm-up
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        one_step()
    synchronize(device)
    return steps * act.numel() / (time.perf_counter() - started)


def synchronize(device: str) -> None:
    """Wait for queued GPU work (no-op on the CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_speed(device: str, out: Path, state_dims: tuple[int, ...] = (16, 32, 64, 128)) -> None:
    """Boolean RNN (its default scan and the compiled one) vs ``nn.LSTM`` training tokens/s,
    interleaved in one run; writes a JSON."""
    models = {
        "boolean": ("boolean", "auto"),
        "compiled": ("boolean", "compiled"),
        "lstm": ("lstm", "auto"),
    }
    rows = []
    for dim in state_dims:
        steps = max(3, 2048 // dim)
        speeds = {name: [] for name in models}
        for _ in range(3):  # interleave the models so all see the same machine load
            for name, (kind, scan) in models.items():
                speeds[name].append(training_tokens_per_second(kind, dim, device, steps, scan=scan))
        rows.append({"state_dim": dim, **{k: max(v) for k, v in speeds.items()}})
    record = {"device": device_name(device), "command": command_line(), "rows": rows}
    path = out / f"speed-{device.split(':')[0]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def command_line() -> str:
    """The command that is running, for the table."""
    return "python " + " ".join(shlex.quote(a) for a in [*sys.argv])


def hardened(run: dict[str, Any]) -> str:
    """`` (hardened from M, proved at N in S s)`` for a boolean RNN run that hardened (or
    ``until N, not verified``), else nothing."""
    if run.get("harden_from") is None:
        return ""
    if run["verified_at"] is None:
        return f" (hardened from {run['harden_from']} until {run['steps_trained']}, not verified)"
    seconds = run["seconds_to_verified"]
    how = "proved" if run.get("verified_by") == "proof" else "verified (sampled check)"
    verified = f"{how} at {run['verified_at']} in {seconds:.0f} s"
    return f" (hardened from {run['harden_from']}, {verified})"


def percent(value: float | None) -> str:
    """``0.99995`` → ``99.99``; a missing value → ``–``."""
    return "–" if value is None else f"{100 * value:.2f}"


def render(out: Path, docs: Path) -> None:
    """Write ``docs/results.md`` and the learning-curve PNGs from every run record: those
    kept in ``docs/runs`` and those under ``out/runs``, which replace them (the per-step
    losses are not kept)."""
    by_preset: dict[str, list[dict[str, Any]]] = {}
    for run in merge_records(docs / "runs", out / "runs", drop=("loss",)):
        by_preset.setdefault(run["preset"], []).append(run)
    order = recipe_presets()
    lines = [
        "# Learning results",
        "",
        "Answer accuracy (%) on fresh episodes at 1×, 4×, 10× the preset's longest length",
        "(10,000 episodes each) and 100× (1,000 episodes); steps and wall-clock time until",
        "100% on a held-out batch of 1,000 episodes (– = not reached within the budget);",
        "whether the automaton extracted by thresholding verified exactly (every valid",
        "episode up to the length where that is feasible, and 100,000 random episodes at",
        '10× length); "proved" in the steps column: the run stopped on a proof against the',
        "task's reference machine for every length (`agents.extract.prove`). Every run is",
        "`agents.train.TrainConfig`'s defaults with the preset's",
        "step cap (`agents.recipes`); GRU and LSTM use the same state size and loop, and their",
        'step budget is the "of" figure of their row. The boolean RNN hardens from its first',
        "100% (or step 1,000), checks its automaton every 500 hardening steps, rewires dormant",
        "bits from fresh episodes and the proof's counterexamples when it does not verify",
        "(`agents.resample`; its state merging reads 16,384 episodes of every length besides,",
        "and twice as many again while none merges into a machine within the bits,",
        "`agents.train.MergeLadder`), checking again after each rewiring (up to 8",
        "rounds, `agents.train.refine`), and stops once it verifies. A boolean run that reaches no",
        "100% held-out eval before it verifies shows – in the time column. The GRU and LSTM rows",
        "were trained before the one learner, with the settings docs/results-notes.md gives for",
        "them (Adam lr 0.01, today's default too, and the first-error loss). Every boolean row",
        "but AutomatonHard's was measured before the merge ladder and the growth stop; the",
        "Easy, Medium, Tomita and ModCountHard rows were run again after them, each proved at",
        "the same step (CountMedium seed 2 one check earlier), RepeatHard's seed 0 verified and",
        "CountHard's seed 0 proved at the same step, and RememberHard's was not run again",
        "(docs/results-notes.md).",
        "Rendered by `benchmarks/results.py` from the record of each run, kept in [runs/](runs/).",
        "",
        "| preset | model | state | 1× | 4× | 10× | 100× | steps to 100% | time to 100% "
        "| automaton | device | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in order:
        runs = sorted(by_preset.get(preset, []), key=lambda run: run["train_config"]["seed"])
        for kind in MODEL_KINDS:
            rows = [table_row(run) for run in runs if run["model"] == kind]
            lines += rows or [
                f"| {preset} | {kind} | {state_dim_for(env_id(preset), {})} | not run "
                + "| " * 8
                + "|"
            ]
        if runs:
            draw_curves(preset, runs, docs / f"curves-{preset}.png")
    lines += ["", "Learning curves (held-out answer accuracy vs step): "]
    lines += [f"[{p}](curves-{p}.png)" for p in order if p in by_preset]
    for speed in merge_records(docs / "speed", out, pattern="speed-*.json"):
        lines += [
            "",
            f"## Training speed on {speed['device']}",
            "",
            "Act tokens a second, forward + backward + Adam, batch 64 of RepeatEasy episodes,",
            'the boolean RNN with its default scan and with `scan="compiled"`, and `nn.LSTM`,',
            f"measured interleaved in one run: `{speed['command']}`.",
            "",
            "| state size | boolean RNN tokens/s | compiled scan tokens/s | nn.LSTM tokens/s "
            "| ratio to LSTM (default, compiled) |",
            "|---|---|---|---|---|",
        ]
        for row in speed["rows"]:
            compiled = row.get("compiled")
            compiled_cells = (
                ("–", "–")
                if compiled is None
                else (f"{compiled:,.0f}", f"{compiled / row['lstm']:.2f}")
            )
            lines.append(
                f"| {row['state_dim']} | {row['boolean']:,.0f} | {compiled_cells[0]} "
                f"| {row['lstm']:,.0f} | {row['boolean'] / row['lstm']:.2f}, {compiled_cells[1]} |"
            )
    lines += [
        "",
        "What was tried on the way, preset by preset, and what each earlier recipe taught: the",
        "lab notebook [results-notes.md](results-notes.md).",
    ]
    lines += rl_section(docs / "rl.md")
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "results.md").write_text("\n".join(lines) + "\n")


def run_label(run: dict[str, Any]) -> str:
    """The model of a run record, and its seed unless 0: ``gru``, ``gru, seed 1``."""
    seed = run["train_config"]["seed"]
    return run["model"] + (f", seed {seed}" if seed else "")


def table_row(run: dict[str, Any]) -> str:
    """The row of a run record in the table of ``results.md``."""
    acc = run["accuracy"]
    seconds = run["seconds_to_perfect"]
    automaton = run.get("automaton")
    hand_built = automaton and automaton["hand_built_bits"]
    verified = (
        "–"
        if automaton is None
        else f"{'yes' if automaton['verified'] else 'no'} ({automaton['bits_used']} bits, "
        f"{automaton['states']} states"
        + (f"; hand-built ≈{hand_built})" if hand_built is not None else ")")
    )
    return (
        f"| {run['preset']} | {run_label(run)} | {run['state_dim']} | "
        + " | ".join(percent(acc.get(f)) for f in ("1", "4", "10", "100"))
        + f" | {run['steps_to_perfect'] or '–'} of {run['steps']}{hardened(run)} | "
        + (f"{seconds:.0f} s" if seconds is not None else "–")
        + f" | {verified} | {run['device']} | `{run['command']}` |"
    )


def rl_section(rl_doc: Path) -> list[str]:
    """The reinforcement-learning table of ``docs/rl.md`` (written by ``benchmarks/rl.py``)."""
    if not rl_doc.exists():
        return []
    table = [line for line in rl_doc.read_text().splitlines() if line.startswith("|")]
    return [
        "",
        "## Reinforcement learning with Stable-Baselines3",
        "",
        "From [rl.md](rl.md), which has the commands, the learning curves and the settings.",
        "",
        *table,
    ]


def draw_curves(preset: str, runs: list[dict[str, Any]], path: Path) -> None:
    """Held-out answer accuracy against training step, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        label = f"{run_label(run)} (state {run['state_dim']})"
        ax.plot(run["eval_steps"], run["eval_accuracy"], label=label)
        if run.get("harden_from") is not None:
            ax.axvline(run["harden_from"], color="grey", linestyle=":", label="hardening starts")
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out answer accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(preset)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def recipe_presets() -> list[str]:
    """Every preset, in ``PRESETS`` order (``"RememberEasy"``, …): each has a recipe."""
    return list(PRESET_NAMES)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options (``argv``: ``sys.argv[1:]`` when ``None``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    names = recipe_presets()
    parser.add_argument("--presets", nargs="+", default=[n for n in names if "Easy" in n])
    parser.add_argument("--models", nargs="+", choices=MODEL_KINDS, default=list(MODEL_KINDS))
    parser.add_argument("--steps", type=int, help="step budget (default by difficulty)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--scan", default="auto", choices=SCAN_METHODS, help="the boolean RNN's scan method"
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1, a row each")
    parser.add_argument("--jobs", type=int, default=1, help="parallel training processes")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "results")
    parser.add_argument("--docs", type=Path, help="where results.md goes (default OUT/docs)")
    parser.add_argument("--force", action="store_true", help="redo runs whose JSON exists")
    parser.add_argument("--speed", action="store_true", help="measure training tokens/s only")
    parser.add_argument("--render", action="store_true", help="only render the docs")
    args = parser.parse_args(argv)
    unknown = set(args.presets) - set(names)
    if unknown:
        parser.error(f"unknown presets {sorted(unknown)}; choose from {names}")
    if args.seeds < 1 or args.jobs < 1:
        parser.error(f"--seeds and --jobs must be at least 1, got {args.seeds} and {args.jobs}")
    return args


def grid(args: argparse.Namespace) -> list[Job]:
    """The runs the options ask for (presets × models × seeds) that have no JSON yet, or all of
    them with ``--force``."""
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    jobs = [
        Job(
            preset=preset,
            model=model,
            steps=args.steps or recipe(preset).steps,
            device=args.device,
            scan=args.scan,
            seed=seed,
            threads=threads,
            command=command_line(),
            resume=not args.force,
        )
        for preset in args.presets
        for model in args.models
        for seed in range(args.seeds)
    ]
    return [job for job in jobs if args.force or not record_path(args.out, job).exists()]


def main() -> None:
    """Command line: run the missing jobs in parallel, then render the docs."""
    args = parse_args()
    if args.speed:
        measure_speed(args.device, args.out)
    elif not args.render:
        jobs = grid(args)
        spawn = multiprocessing.get_context("spawn")  # safe with CUDA in the workers
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=spawn) as pool:
            for record in pool.map(run_job, jobs, [args.out] * len(jobs)):
                accuracy = ", ".join(f"{f}x {100 * a:.2f}%" for f, a in record["accuracy"].items())
                print(f"{record['preset']} {record['model']}: {accuracy}", flush=True)
    render(args.out, args.docs or args.out / "docs")


if __name__ == "__main__":
    main()
