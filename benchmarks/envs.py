"""Speed of memgym's envs and batched generator, side by side with POPGym, in one run.

    python benchmarks/envs.py [--write docs/envs.md]

Single-env steps/s: a loop of ``step(0)`` with ``reset()`` at termination, unwrapped and
through ``gym.make`` (its checker/order wrappers), for memgym's Easy and Hard presets and
POPGym's RepeatPrevious and CountRecall (Easy). Generator tokens/s: ``batch_rollouts`` for
the Hard presets (and Tomita's) at B=1024; a token is a valid (masked) step, padding is not counted.
Each figure is the median of several repeats; the process is pinned to one core.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import popgym  # noqa: F401  (registers the popgym-* ids)
from common import cpu_description

import memgym

MEMGYM_IDS = [
    f"memgym/{task}{level}-v0"
    for task in ("Remember", "Count", "Repeat")
    for level in ("Easy", "Hard")
]
POPGYM_IDS = ["popgym-RepeatPreviousEasy-v0", "popgym-CountRecallEasy-v0"]
GENERATOR_IDS = [
    "memgym/RememberHard-v0",
    "memgym/CountHard-v0",
    "memgym/RepeatHard-v0",
    "memgym/ModCountHard-v0",
    *(f"memgym/Tomita{grammar}-v0" for grammar in range(1, 8)),
    "memgym/AutomatonHard-v0",
]


def median_rate(run: Callable[[], float], repeats: int) -> float:
    """Median over ``repeats`` of ``run()``, which returns work done per second."""
    return statistics.median(run() for _ in range(repeats))


def steps_per_second(env: gym.Env, steps: int) -> Callable[[], float]:
    """A timed loop of ``steps`` env steps (action 0), resetting at the end of each episode."""

    def run() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(0)
            if terminated or truncated:
                env.reset()
        return steps / (time.perf_counter() - start)

    return run


def tokens_per_second(env_id: str, batch_size: int) -> Callable[[], float]:
    """One timed ``batch_rollouts`` call; counts valid (masked) tokens."""
    seeds = iter(range(1_000_000))

    def run() -> float:
        start = time.perf_counter()
        rollouts = memgym.batch_rollouts(env_id, batch_size, seed=next(seeds))
        return int(rollouts.mask.sum()) / (time.perf_counter() - start)

    return run


def machine() -> str:
    """CPU model, core count and the versions that matter here."""
    return f"{cpu_description()}, gymnasium {gym.__version__}"


def measure(steps: int, repeats: int, batch_size: int) -> str:
    """Run every measurement; return the markdown tables."""
    lines = [
        "| env | steps/s unwrapped | steps/s via gym.make |",
        "|---|---:|---:|",
    ]
    for env_id in MEMGYM_IDS + POPGYM_IDS:
        with warnings.catch_warnings():  # POPGym trips the passive checker's warnings
            warnings.simplefilter("ignore")
            wrapped = gym.make(env_id)
            wrapped.reset(seed=0)
            wrapped.step(0)
        rates = [
            median_rate(steps_per_second(env, steps), repeats)
            for env in (wrapped.unwrapped, wrapped)
        ]
        lines.append(f"| `{env_id}` | {rates[0]:,.0f} | {rates[1]:,.0f} |")
    lines += [
        "",
        f"| preset | batch_rollouts tokens/s (B={batch_size}) | mean valid tokens per row |",
        "|---|---:|---:|",
    ]
    for env_id in GENERATOR_IDS:
        rate = median_rate(tokens_per_second(env_id, batch_size), repeats * 3)
        mean_length = memgym.batch_rollouts(env_id, batch_size, seed=0).lengths.mean()
        lines.append(f"| `{env_id}` | {rate:,.0f} | {mean_length:.1f} |")
    return "\n".join(lines)


def main() -> None:
    """Measure, print the tables, and optionally write them into a markdown file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="also write the report to this markdown file")
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()
    description = machine()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    tables = measure(args.steps, args.repeats, args.batch_size)
    print(tables)
    if args.write:
        report = "\n".join(
            [
                "# memgym environments: speed",
                "",
                "Measured side by side in one run on one machine, pinned to one core; medians",
                f"of {args.repeats} repeats ({args.steps:,} steps each) for the envs and of",
                f"{args.repeats * 3} batches for the generator. Single-env rows play action 0 and",
                "reset at each episode end.",
                "Generator tokens are valid (masked) steps of the batch; padding is not counted.",
                "The machine is shared, so compare rows with each other, not with other runs.",
                "",
                f"- Command: `python benchmarks/envs.py --write {args.write}`",
                f"- Machine: {description}",
                f"- Date: {datetime.date.today().isoformat()}",
                "",
                tables,
                "",
            ]
        )
        args.write.write_text(report)


if __name__ == "__main__":
    main()
