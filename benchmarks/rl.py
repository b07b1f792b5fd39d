"""RL benchmark: the boolean RNN's SB3 plug-ins against SB3's own baselines on memgym.

Every run trains one algorithm on one preset with one seed for the same number of env steps,
evaluating the greedy policy at regular points. Algorithms:

- ``ppo_mlp``: PPO with an MLP policy (no memory);
- ``rppo_lstm``: sb3-contrib RecurrentPPO with its LSTM policy (SB3 defaults);
- ``ppo_boolean``: PPO with :class:`agents.sb3.BooleanRNNExtractor` over the token history;
- ``rppo_boolean``: RecurrentPPO with :class:`agents.sb3.BooleanRecurrentPolicy`;
- ``predictor``: the boolean RNN trained on supervised rollouts (its env steps are the tokens
  its training batches held), played through :class:`agents.sb3.PredictorPolicy`.

Each run writes ``OUT/runs/<preset>-<algo>-<seed>.json`` and is skipped if that file exists, so
interrupted or partial runs merge. The summary goes to ``OUT/rl.md`` with learning-curve PNGs;
``--write-docs`` writes it to ``docs/rl.md`` and ``docs/rl_*.png``, from the runs under ``OUT``
together with those kept in ``docs/rl-runs`` (where it copies them), so a later invocation on
another machine adds or replaces only its own runs.

    python benchmarks/rl.py --jobs 16                         # the full benchmark
    python benchmarks/rl.py --presets RememberEasy RepeatEasy --seeds 1 --budget 50000
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from common import cpu_description, env_id, merge_records
from stable_baselines3.common.callbacks import BaseCallback

import memgym
from memgym.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
ALGOS = ("ppo_mlp", "rppo_lstm", "ppo_boolean", "rppo_boolean", "predictor")
PRESET_NAMES = tuple(
    f"{task}{level}" for task in ("Remember", "Count", "Repeat") for level in ("Easy", "Medium")
)
N_ENVS = 8
N_EVALS = 10  # evaluation points per run
EVAL_EPISODES = 100
SUCCESS_TARGET = 0.95
# Tuned on RememberEasy / RepeatEasy (seeds 0-2, 8 envs): with the plug-ins' default lr_scale
# of 30 both reach return 1.0 on RememberEasy within 31k env steps in every seed; without it
# (lr_scale 1) neither learns RepeatEasy or (RecurrentPPO) RememberEasy in 150k. Smaller
# minibatches (128) helped the extractor on RepeatEasy. On RepeatEasy at 120k, state 16 gave
# mean returns of 0.90 (RecurrentPPO) and 0.81 (PPO); state 32 gave 0.95 and 0.95, and with the
# plug-ins' feature_scale of 8 (features sigmoid(x/8), not sigmoid(x)) 0.95 and 0.99. A linear
# learning-rate decay made RecurrentPPO stall (0.86, 0.62). SB3 defaults elsewhere.
PPO_KWARGS: dict[str, Any] = dict(n_steps=128, batch_size=256, learning_rate=3e-3, ent_coef=0.01)
EXTRACTOR_PPO_KWARGS: dict[str, Any] = {**PPO_KWARGS, "batch_size": 128}
BOOLEAN_KWARGS: dict[str, Any] = dict(state_dim=32, lr_scale=30.0)
# The predictor's batch: at the trainer's default of 64 the budget buys only ~170 steps on the
# Easy presets and nothing is learned; at 8 (~1,400 steps) it solves RememberEasy in every seed.
PREDICTOR_BATCH = 8


def max_length(preset: str) -> int:
    """The longest episode of a preset, in observations (n + 1 for the largest n)."""
    return PRESETS[env_id(preset)]["n_range"][1] + 1


def make_env(preset: str, history: bool) -> gym.Env:
    """One env of ``preset``; with ``history``, observations are the token history."""
    from agents.sb3 import TokenHistoryWrapper

    env = gym.make(env_id(preset))
    return TokenHistoryWrapper(env, max_length(preset)) if history else env


def build_model(algo: str, preset: str, seed: int) -> Any:
    """The SB3 model of an RL algorithm, on ``N_ENVS`` envs."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from agents.sb3 import BooleanRecurrentPolicy, BooleanRNNExtractor

    history = algo == "ppo_boolean"
    env = make_vec_env(partial(make_env, preset, history), n_envs=N_ENVS, seed=seed)
    if algo == "ppo_mlp":
        return PPO("MlpPolicy", env, seed=seed, **PPO_KWARGS)
    if algo == "rppo_lstm":
        return RecurrentPPO("MlpLstmPolicy", env, seed=seed)
    if algo == "ppo_boolean":
        policy_kwargs = dict(
            features_extractor_class=BooleanRNNExtractor, features_extractor_kwargs=BOOLEAN_KWARGS
        )
        return PPO(
            "MultiInputPolicy", env, seed=seed, policy_kwargs=policy_kwargs, **EXTRACTOR_PPO_KWARGS
        )
    if algo == "rppo_boolean":
        return RecurrentPPO(
            BooleanRecurrentPolicy, env, seed=seed, policy_kwargs=BOOLEAN_KWARGS, **PPO_KWARGS
        )
    raise ValueError(f"unknown algorithm {algo!r}; choose from {ALGOS}")


def evaluate(policy: Any, preset: str, history: bool, seed: int) -> tuple[float, float]:
    """Mean return and success rate (answer right) of the greedy policy."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    env = make_vec_env(partial(make_env, preset, history), n_envs=N_ENVS, seed=10_000 + seed)
    returns, _ = evaluate_policy(
        policy, env, n_eval_episodes=EVAL_EPISODES, return_episode_rewards=True
    )
    returns = np.asarray(returns)
    return float(returns.mean()), float((returns > 0).mean())


class EvaluationPoints(BaseCallback):
    """Evaluate the greedy policy each time training crosses a multiple of ``interval`` env
    steps, keeping the learning curve and the time spent evaluating (not training time)."""

    def __init__(self, preset: str, history: bool, seed: int, interval: int) -> None:
        super().__init__()
        self.preset, self.history, self.seed, self.interval = preset, history, seed, interval
        self.curve: list[dict[str, float]] = []
        self.eval_seconds = 0.0
        self.start = 0.0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        # The last point is taken after ``learn`` returns, past the last update
        if len(self.curve) < N_EVALS - 1 and self.num_timesteps >= self.interval * (
            len(self.curve) + 1
        ):
            self.evaluate()
        return True

    def evaluate(self) -> None:
        """Add one point to the curve."""
        start = time.perf_counter()
        mean_return, success = evaluate(self.model, self.preset, self.history, self.seed)
        self.curve.append(
            dict(
                env_steps=self.num_timesteps,
                seconds=start - self.start - self.eval_seconds,
                mean_return=mean_return,
                success=success,
            )
        )
        self.eval_seconds += time.perf_counter() - start


def run_rl(algo: str, preset: str, seed: int, budget: int) -> dict[str, Any]:
    """Train an SB3 algorithm for ``budget`` env steps in one ``learn`` call (so learning-rate
    schedules span the whole run), evaluating at ``N_EVALS`` evenly spaced points."""
    model = build_model(algo, preset, seed)
    points = EvaluationPoints(preset, algo == "ppo_boolean", seed, budget // N_EVALS)
    model.learn(budget, callback=points)
    points.evaluate()
    curve = points.curve
    return dict(curve=curve, env_steps=model.num_timesteps, seconds=curve[-1]["seconds"])


def run_predictor(preset: str, seed: int, budget: int) -> dict[str, Any]:
    """Train the supervised predictor on rollouts holding about ``budget`` tokens in all."""
    import tempfile

    from agents.sb3 import PredictorPolicy
    from agents.train import TRAIN_STREAM, TrainConfig, batch_seed, train

    n_min, n_max = PRESETS[env_id(preset)]["n_range"]
    steps = max(N_EVALS, int(budget / (PREDICTOR_BATCH * ((n_min + n_max) / 2 + 1))))
    curve, env_steps, done = [], 0, 0
    with tempfile.TemporaryDirectory() as out_dir:
        for point in range(1, N_EVALS + 1):
            config = TrainConfig(
                env_id=env_id(preset),
                steps=steps * point // N_EVALS,
                batch_size=PREDICTOR_BATCH,
                seed=seed,
                eval_interval=steps,
                checkpoint_interval=steps,
            )
            result = train(config, out_dir=out_dir, resume=point > 1, progress=False)
            for step in range(done, config.steps):
                seed_ = batch_seed(seed, TRAIN_STREAM, step)
                env_steps += int(
                    memgym.batch_rollouts(config.env_id, PREDICTOR_BATCH, seed_).mask.sum()
                )
            done = config.steps
            mean_return, success = evaluate(PredictorPolicy(result.model), preset, False, seed)
            curve.append(
                dict(
                    env_steps=env_steps,
                    seconds=result.seconds,
                    mean_return=mean_return,
                    success=success,
                )
            )
    return dict(curve=curve, env_steps=env_steps, seconds=curve[-1]["seconds"])


def record_path(job: tuple[str, str, int, int, str, str]) -> Path:
    """Where a run's JSON goes."""
    algo, preset, seed, _, out, _ = job
    return Path(out) / "runs" / f"{preset}-{algo}-{seed}.json"


def run(job: tuple[str, str, int, int, str, str]) -> str:
    """One run, single-threaded; writes its JSON (with the command that asked for it) and
    returns the path."""
    import torch

    algo, preset, seed, budget, _, command = job
    path = record_path(job)
    if path.exists():
        return str(path)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    result = (
        run_predictor(preset, seed, budget)
        if algo == "predictor"
        else run_rl(algo, preset, seed, budget)
    )
    final = result["curve"][-1]
    reached = [p["env_steps"] for p in result["curve"] if p["success"] >= SUCCESS_TARGET]
    result.update(
        algo=algo,
        preset=preset,
        seed=seed,
        budget=budget,
        command=command,
        mean_return=final["mean_return"],
        success=final["success"],
        steps_to_target=reached[0] if reached else None,
        steps_per_second=result["env_steps"] / result["seconds"],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    print(
        f"{preset} {algo} seed {seed}: return {final['mean_return']:.3f}, "
        f"{result['steps_per_second']:.0f} steps/s",
        flush=True,
    )
    return str(path)


def load_runs(out: Path) -> list[dict[str, Any]]:
    """Every run JSON under ``out/runs``."""
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]


def summary_table(runs: list[dict[str, Any]]) -> str:
    """Markdown table: per preset and algorithm, means over seeds."""
    lines = [
        "| preset | algorithm | seeds | final mean return | success rate "
        "| env steps to 95% success | env steps/s | wall-clock (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset in PRESET_NAMES:
        for algo in ALGOS:
            group = [r for r in runs if r["preset"] == preset and r["algo"] == algo]
            if not group:
                continue
            reached = [r["steps_to_target"] for r in group if r["steps_to_target"] is not None]
            to_target = f"{np.mean(reached):,.0f} ({len(reached)}/{len(group)})" if reached else "—"
            lines.append(
                f"| {preset} | {algo} | {len(group)} "
                f"| {np.mean([r['mean_return'] for r in group]):.3f} "
                f"| {np.mean([r['success'] for r in group]):.2f} | {to_target} "
                f"| {np.mean([r['steps_per_second'] for r in group]):,.0f} "
                f"| {np.mean([r['seconds'] for r in group]):.0f} |"
            )
    return "\n".join(lines)


def plot_curves(runs: list[dict[str, Any]], out: Path) -> list[Path]:
    """One PNG per preset: mean return against env steps and against wall-clock seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for preset in PRESET_NAMES:
        group = [r for r in runs if r["preset"] == preset]
        if not group:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for algo in ALGOS:
            algo_runs = [r for r in group if r["algo"] == algo]
            for i, run_ in enumerate(algo_runs):
                returns = [p["mean_return"] for p in run_["curve"]]
                for ax, key in zip(axes, ("env_steps", "seconds"), strict=True):
                    ax.plot(
                        [p[key] for p in run_["curve"]],
                        returns,
                        color=f"C{ALGOS.index(algo)}",
                        label=algo if i == 0 else None,
                        alpha=0.8,
                    )
        axes[0].set(xlabel="env steps", ylabel="mean return", title=preset)
        axes[1].set(xlabel="wall-clock (s)", xscale="log", title=preset)
        axes[0].legend()
        fig.tight_layout()
        path = out / f"rl_{preset}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(out: Path, write_docs: bool) -> None:
    """Write ``out/rl.md`` and the PNGs (and their copies in ``docs/`` with ``write_docs``,
    which also merges in, and keeps, the run records of ``docs/rl-runs``)."""
    runs = merge_records(ROOT / "docs" / "rl-runs", out / "runs") if write_docs else load_runs(out)
    pngs = plot_curves(runs, out)
    budgets = sorted({r["budget"] for r in runs})
    commands = dict.fromkeys(r["command"] for r in runs)  # distinct, in the runs' order
    text = "\n".join(
        [
            "# RL benchmark: the boolean RNN in Stable-Baselines3",
            "",
            "Commands (each run's JSON names its own):",
            "",
            *[f"- `{command}`" for command in commands],
            "",
            f"Machine: {cpu_description()}, one thread per run  ",
            f"Date: {datetime.date.today().isoformat()}  ",
            f"Budget: {', '.join(f'{b:,}' for b in budgets)} env steps per run; greedy policy "
            f"evaluated on {EVAL_EPISODES} episodes at {N_EVALS} points.",
            "",
            "\n\n".join(__doc__.split("\n\n")[1:3]),
            "",
            summary_table(runs),
            "",
            "Success: the answer is right (return +1). Env steps/s and wall-clock count training "
            "only, not evaluation. The predictor's env steps are the tokens of its training "
            "batches.",
            "",
            *[f"![{p.stem}]({p.name})" for p in pngs],
            "",
        ]
    )
    (out / "rl.md").write_text(text)
    if write_docs:
        docs = ROOT / "docs"
        (docs / "rl.md").write_text(text)
        for p in pngs:
            shutil.copy(p, docs / p.name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options (``argv``: ``sys.argv[1:]`` when ``None``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESET_NAMES), choices=PRESET_NAMES)
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument("--budget", type=int, default=120_000, help="env steps per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel")
    parser.add_argument("--out", default="runs/rl", help="output folder")
    parser.add_argument("--write-docs", action="store_true", help="also write docs/rl.md")
    return parser.parse_args(argv)


def grid(args: argparse.Namespace) -> list[tuple[str, str, int, int, str, str]]:
    """The runs the options ask for, the slowest (RecurrentPPO-LSTM) first so that a pool does
    not end on them."""
    command = "python " + " ".join(sys.argv)
    jobs = [
        (algo, preset, seed, args.budget, args.out, command)
        for preset in args.presets
        for seed in range(args.seeds)
        for algo in args.algos
    ]
    return sorted(jobs, key=lambda job: job[0] != "rppo_lstm")


def main() -> None:
    """Run the missing runs (in a process pool) and write the report."""
    args = parse_args()
    out = Path(args.out)
    jobs = grid(args)
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            list(pool.imap_unordered(run, jobs))
    else:
        for job in jobs:
            run(job)
    write_report(out, args.write_docs)
    print((out / "rl.md").read_text())


if __name__ == "__main__":
    main()
