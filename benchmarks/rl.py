"""RL benchmark: the boolean RNN's SB3 plug-ins against SB3's own baselines, on memgym and on
POPGym's own tasks.

Every run trains one algorithm on one env with one seed for the same number of env steps,
evaluating the greedy policy at regular points. Algorithms:

- ``ppo_mlp``: PPO with an MLP policy (no memory);
- ``rppo_lstm``: sb3-contrib RecurrentPPO with its LSTM policy (SB3 defaults, ``n_steps``
  covering the longest episode, as POPGym's baselines do);
- ``rppo_gru``: RecurrentPPO with :class:`agents.sb3.GRURecurrentPolicy` (same settings);
- ``ppo_boolean``: PPO with :class:`agents.sb3.BooleanRNNExtractor` over the history;
- ``rppo_boolean``: RecurrentPPO with :class:`agents.sb3.BooleanRecurrentPolicy`;
- ``predictor``: the boolean RNN trained on supervised rollouts (memgym only; its env steps are
  the tokens its training batches held), played through :class:`agents.sb3.PredictorPolicy`.

Envs: memgym presets (``RememberMedium``, ...) and POPGym's envs as POPGym registers them
(``RepeatPreviousEasy`` is ``popgym-RepeatPreviousEasy-v0``). MMER is POPGym's max-mean
episodic reward: the best mean return over the evaluation points (POPGym scales every
episode's return into [-1, 1]; memgym's is ±1 already).

:func:`run` is one run, a plain function of ``(env, algo, seed, budget, out)`` that writes
``OUT/runs/<env>-<algo>-<seed>.json`` and returns its record; it is skipped if that file
exists, so interrupted or partial runs merge. The summary goes to ``OUT/rl.md`` with
learning-curve PNGs; ``--write-docs`` writes it to ``docs/rl.md`` and ``docs/rl_*.png``, from
the runs under ``OUT`` together with those kept in ``docs/rl-runs`` (where it copies them), so a
later invocation on another machine adds or replaces only its own runs.

    python benchmarks/rl.py --jobs 16                         # the full benchmark
    python benchmarks/rl.py --envs RepeatPreviousEasy --seeds 1 --budget 50000 --tensorboard tb
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import shutil
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from common import cpu_description, env_id, merge_records
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.torch_layers import FlattenExtractor

import memgym
from memgym.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
ALGOS = ("ppo_mlp", "rppo_lstm", "rppo_gru", "ppo_boolean", "rppo_boolean", "predictor")
MEMGYM_ENVS = tuple(
    f"{task}{level}" for task in ("Remember", "Count", "Repeat") for level in ("Easy", "Medium")
)
POPGYM_ENVS = (
    "RepeatPreviousEasy",
    "RepeatPreviousMedium",
    "CountRecallEasy",
    "PositionOnlyCartPoleEasy",
)
ENVS = MEMGYM_ENVS + POPGYM_ENVS
BENCHMARK_ENVS = ("RememberMedium", "RepeatMedium", "CountEasy", *POPGYM_ENVS)
N_ENVS = 8
N_EVALS = 10  # evaluation points per run
EVAL_EPISODES = 100
SUCCESS_TARGET = 0.95
# An episode of a POPGym env succeeds when its return (at most 1) reaches this; a memgym
# episode when its answer is right (return +1).
POPGYM_SUCCESS_RETURN = 0.95
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


def is_memgym(env: str) -> bool:
    """Whether ``env`` names a memgym preset (else a POPGym env)."""
    return env in MEMGYM_ENVS


def gym_id(env: str) -> str:
    """Gymnasium id of a benchmark env name."""
    if env not in ENVS:
        raise ValueError(f"unknown env {env!r}; choose from {ENVS}")
    return env_id(env) if is_memgym(env) else f"popgym-{env}-v0"


def max_length(env: str) -> int:
    """The longest episode of an env, in observations."""
    if is_memgym(env):
        return PRESETS[env_id(env)]["n_range"][1] + 1
    return int(make_env(env, history=False).unwrapped.max_episode_length) + 1


def make_env(env: str, history: bool) -> gym.Env:
    """One env; with ``history``, observations are the episode's history."""
    import popgym  # noqa: F401  (registers the popgym-* ids)

    from agents.sb3 import TokenHistoryWrapper

    with warnings.catch_warnings():  # POPGym trips the passive checker's warnings
        warnings.simplefilter("ignore")
        made = gym.make(gym_id(env))
    return TokenHistoryWrapper(made, max_length(env)) if history else made


class IntFlattenExtractor(FlattenExtractor):
    """SB3's ``FlattenExtractor`` with a Python int ``features_dim``: for ``MultiDiscrete``
    observations it gives a NumPy int, which sb3-contrib's ``nn.LSTM`` refuses."""

    def __init__(self, observation_space: gym.Space) -> None:
        super().__init__(observation_space)
        self._features_dim = int(self._features_dim)


def build_model(algo: str, env: str, seed: int, tensorboard_log: str | None = None) -> Any:
    """The SB3 model of an RL algorithm, on ``N_ENVS`` envs."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from agents.sb3 import BooleanRecurrentPolicy, BooleanRNNExtractor, GRURecurrentPolicy

    history = algo == "ppo_boolean"
    venv = make_vec_env(partial(make_env, env, history), n_envs=N_ENVS, seed=seed)
    common = dict(seed=seed, tensorboard_log=tensorboard_log)
    # n_steps covers the longest episode, as POPGym's recurrent baselines do
    episode_steps = max(128, max_length(env))
    if algo == "ppo_mlp":
        return PPO("MlpPolicy", venv, **common, **PPO_KWARGS)
    if algo == "rppo_lstm":
        policy_kwargs = dict(features_extractor_class=IntFlattenExtractor)
        return RecurrentPPO(
            "MlpLstmPolicy", venv, n_steps=episode_steps, policy_kwargs=policy_kwargs, **common
        )
    if algo == "rppo_gru":
        return RecurrentPPO(GRURecurrentPolicy, venv, n_steps=episode_steps, **common)
    if algo == "ppo_boolean":
        policy_kwargs = dict(
            features_extractor_class=BooleanRNNExtractor, features_extractor_kwargs=BOOLEAN_KWARGS
        )
        return PPO(
            "MultiInputPolicy", venv, policy_kwargs=policy_kwargs, **common, **EXTRACTOR_PPO_KWARGS
        )
    if algo == "rppo_boolean":
        return RecurrentPPO(
            BooleanRecurrentPolicy, venv, policy_kwargs=BOOLEAN_KWARGS, **common, **PPO_KWARGS
        )
    raise ValueError(f"unknown algorithm {algo!r}; choose from {ALGOS}")


def evaluate(
    policy: Any, env: str, history: bool, seed: int, episodes: int = EVAL_EPISODES
) -> tuple[float, float]:
    """Mean return and success rate of the greedy policy."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    venv = make_vec_env(partial(make_env, env, history), n_envs=N_ENVS, seed=10_000 + seed)
    returns, _ = evaluate_policy(
        policy, venv, n_eval_episodes=episodes, return_episode_rewards=True
    )
    returns = np.asarray(returns)
    success = returns > 0 if is_memgym(env) else returns >= POPGYM_SUCCESS_RETURN
    return float(returns.mean()), float(success.mean())


class EvaluationPoints(BaseCallback):
    """Evaluate the greedy policy each time training crosses a multiple of ``interval`` env
    steps, keeping the learning curve and the time spent evaluating (not training time)."""

    def __init__(
        self, env: str, history: bool, seed: int, interval: int, evals: int, episodes: int
    ) -> None:
        super().__init__()
        self.env, self.history, self.seed, self.interval = env, history, seed, interval
        self.evals, self.episodes = evals, episodes
        self.curve: list[dict[str, float]] = []
        self.eval_seconds = 0.0
        self.start = 0.0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        # The last point is taken after ``learn`` returns, past the last update
        if len(self.curve) < self.evals - 1 and self.num_timesteps >= self.interval * (
            len(self.curve) + 1
        ):
            self.evaluate()
        return True

    def evaluate(self) -> None:
        """Add one point to the curve."""
        start = time.perf_counter()
        mean_return, success = evaluate(
            self.model, self.env, self.history, self.seed, self.episodes
        )
        self.curve.append(
            dict(
                env_steps=self.num_timesteps,
                seconds=start - self.start - self.eval_seconds,
                mean_return=mean_return,
                success=success,
            )
        )
        self.eval_seconds += time.perf_counter() - start


def run_rl(
    algo: str,
    env: str,
    seed: int,
    budget: int,
    tensorboard_log: str | None = None,
    evals: int = N_EVALS,
    eval_episodes: int = EVAL_EPISODES,
) -> dict[str, Any]:
    """Train an SB3 algorithm for ``budget`` env steps in one ``learn`` call (so learning-rate
    schedules span the whole run), evaluating at ``evals`` evenly spaced points."""
    model = build_model(algo, env, seed, tensorboard_log)
    points = EvaluationPoints(
        env, algo == "ppo_boolean", seed, budget // evals, evals, eval_episodes
    )
    model.learn(budget, callback=points, tb_log_name=f"{env}-{algo}-{seed}")
    points.evaluate()
    curve = points.curve
    return dict(curve=curve, env_steps=model.num_timesteps, seconds=curve[-1]["seconds"])


def run_predictor(
    env: str, seed: int, budget: int, evals: int = N_EVALS, eval_episodes: int = EVAL_EPISODES
) -> dict[str, Any]:
    """Train the supervised predictor on rollouts holding about ``budget`` tokens in all."""
    import tempfile

    from agents.sb3 import PredictorPolicy
    from agents.train import TRAIN_STREAM, TrainConfig, batch_seed, train

    n_min, n_max = PRESETS[env_id(env)]["n_range"]
    steps = max(evals, int(budget / (PREDICTOR_BATCH * ((n_min + n_max) / 2 + 1))))
    curve, env_steps, done = [], 0, 0
    with tempfile.TemporaryDirectory() as out_dir:
        for point in range(1, evals + 1):
            config = TrainConfig(
                env_id=env_id(env),
                steps=steps * point // evals,
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
            mean_return, success = evaluate(
                PredictorPolicy(result.model), env, False, seed, eval_episodes
            )
            curve.append(
                dict(
                    env_steps=env_steps,
                    seconds=result.seconds,
                    mean_return=mean_return,
                    success=success,
                )
            )
    return dict(curve=curve, env_steps=env_steps, seconds=curve[-1]["seconds"])


def run(
    env: str,
    algo: str,
    seed: int,
    budget: int,
    out: str | Path,
    command: str = "",
    tensorboard_log: str | None = None,
    evals: int = N_EVALS,
    eval_episodes: int = EVAL_EPISODES,
) -> dict[str, Any]:
    """
    One run, single-threaded: train, evaluate, write ``out/runs/<env>-<algo>-<seed>.json``.

    :param env: Benchmark env name (see ``ENVS``)
    :param algo: Algorithm (see ``ALGOS``); ``predictor`` needs a memgym env
    :param seed: Seed of the model and of the training envs
    :param budget: Env steps to train for
    :param out: Output folder; a run whose JSON exists there is not run again
    :param command: The command that asked for the run, kept in the record
    :param tensorboard_log: Folder for SB3's TensorBoard logs (``None``: none)
    :param evals: Evaluation points of the greedy policy (the last one after training)
    :param eval_episodes: Episodes per evaluation point
    :return: The run's record
    """
    import torch

    path = record_path((env, algo, seed, budget, str(out)))
    if path.exists():
        return json.loads(path.read_text())
    if algo == "predictor" and not is_memgym(env):
        raise ValueError(f"the predictor trains on memgym rollouts; {env} is a POPGym env")
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    result = (
        run_predictor(env, seed, budget, evals, eval_episodes)
        if algo == "predictor"
        else run_rl(algo, env, seed, budget, tensorboard_log, evals, eval_episodes)
    )
    final = result["curve"][-1]
    reached = [p["env_steps"] for p in result["curve"] if p["success"] >= SUCCESS_TARGET]
    result.update(
        algo=algo,
        env=env,
        seed=seed,
        budget=budget,
        command=command,
        mean_return=final["mean_return"],
        mmer=max(p["mean_return"] for p in result["curve"]),
        success=final["success"],
        steps_to_target=reached[0] if reached else None,
        steps_per_second=result["env_steps"] / result["seconds"],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    print(
        f"{env} {algo} seed {seed}: return {final['mean_return']:.3f}, "
        f"{result['steps_per_second']:.0f} steps/s",
        flush=True,
    )
    return result


def record_path(job: tuple[Any, ...]) -> Path:
    """Where the JSON of a run (a job of :func:`grid`: env, algo, seed, budget, out, ...) goes."""
    env, algo, seed, _, out = job[:5]
    return Path(out) / "runs" / f"{env}-{algo}-{seed}.json"


def run_job(job: tuple[Any, ...]) -> dict[str, Any]:
    """:func:`run` of a job of :func:`grid`."""
    return run(*job)


def load_runs(out: Path) -> list[dict[str, Any]]:
    """Every run JSON under ``out/runs``."""
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]


def summary_table(runs: list[dict[str, Any]]) -> str:
    """Markdown table: per env and algorithm, means over seeds."""
    lines = [
        "| env | algorithm | seeds | budget | MMER | final mean return | success rate "
        "| env steps to 95% success | env steps/s | wall-clock (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env in ENVS:
        for algo in ALGOS:
            group = [r for r in runs if r["env"] == env and r["algo"] == algo]
            if not group:
                continue
            reached = [r["steps_to_target"] for r in group if r["steps_to_target"] is not None]
            to_target = f"{np.mean(reached):,.0f} ({len(reached)}/{len(group)})" if reached else "—"
            budgets = "/".join(f"{b:,}" for b in sorted({r["budget"] for r in group}))
            lines.append(
                f"| {env} | {algo} | {len(group)} | {budgets} "
                f"| {np.mean([r['mmer'] for r in group]):.3f} "
                f"| {np.mean([r['mean_return'] for r in group]):.3f} "
                f"| {np.mean([r['success'] for r in group]):.2f} | {to_target} "
                f"| {np.mean([r['steps_per_second'] for r in group]):,.0f} "
                f"| {np.mean([r['seconds'] for r in group]):.0f} |"
            )
    return "\n".join(lines)


def speed_ratios(runs: list[dict[str, Any]]) -> str:
    """Markdown table: per env, RecurrentPPO + boolean policy's env steps/s over the LSTM's and
    the GRU's, from runs with the same command and seed (side by side, one machine)."""
    lines = ["| env | seeds | boolean / LSTM | boolean / GRU |", "|---|---|---|---|"]
    for env in ENVS:
        ratios: dict[str, list[float]] = {"rppo_lstm": [], "rppo_gru": []}
        seeds = set()
        for r in runs:
            if r["env"] != env or r["algo"] != "rppo_boolean":
                continue
            for base, values in ratios.items():
                twin = [
                    o
                    for o in runs
                    if (o["env"], o["algo"], o["seed"], o["command"])
                    == (env, base, r["seed"], r["command"])
                ]
                if twin:
                    values.append(r["steps_per_second"] / twin[0]["steps_per_second"])
                    seeds.add(r["seed"])
        if seeds:
            cells = [f"{np.mean(v):.1f}×" if v else "—" for v in ratios.values()]
            lines.append(f"| {env} | {len(seeds)} | {' | '.join(cells)} |")
    return "\n".join(lines)


def plot_curves(runs: list[dict[str, Any]], out: Path) -> list[Path]:
    """One PNG per env: mean return against env steps and against wall-clock seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for env in ENVS:
        group = [r for r in runs if r["env"] == env]
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
        axes[0].set(xlabel="env steps", ylabel="mean return", title=env)
        axes[1].set(xlabel="wall-clock (s)", xscale="log", title=env)
        axes[0].legend()
        fig.tight_layout()
        path = out / f"rl_{env}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


NOTES_MARKER = "<!-- notes: kept by --write-docs -->"


def write_report(out: Path, write_docs: bool) -> None:
    """Write ``out/rl.md`` and the PNGs (and their copies in ``docs/`` with ``write_docs``,
    which also merges in, and keeps, the run records of ``docs/rl-runs``, and keeps what
    follows ``NOTES_MARKER`` in ``docs/rl.md``)."""
    docs = ROOT / "docs"
    runs = merge_records(docs / "rl-runs", out / "runs") if write_docs else load_runs(out)
    pngs = plot_curves(runs, out)
    commands = dict.fromkeys(r["command"] for r in runs)  # distinct, in the runs' order
    notes = ""
    if write_docs and (docs / "rl.md").exists():
        old = (docs / "rl.md").read_text()
        notes = old[old.index(NOTES_MARKER) :] if NOTES_MARKER in old else ""
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
            "Greedy policy evaluated at evenly spaced points of each run (the commands give "
            f"how many: --evals, default {N_EVALS}; --eval-episodes, default {EVAL_EPISODES}).",
            "",
            "\n\n".join(__doc__.split("\n\n")[1:4]),
            "",
            summary_table(runs),
            "",
            "Success: memgym, the answer is right (return +1); POPGym, the episode's return "
            f"reaches {POPGYM_SUCCESS_RETURN}. Env steps/s and wall-clock count training only, "
            "not evaluation. The predictor's env steps are the tokens of its training batches.",
            "",
            "Env steps/s of RecurrentPPO + BooleanRecurrentPolicy over RecurrentPPO-LSTM's and "
            "-GRU's, runs of the same command and seed (side by side, same machine):",
            "",
            speed_ratios(runs),
            "",
            *[f"![{p.stem}]({p.name})" for p in pngs],
            "",
            notes,
        ]
    )
    (out / "rl.md").write_text(text)
    if write_docs:
        (docs / "rl.md").write_text(text)
        for p in pngs:
            shutil.copy(p, docs / p.name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options (``argv``: ``sys.argv[1:]`` when ``None``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--envs", nargs="+", default=list(BENCHMARK_ENVS), choices=ENVS)
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument("--budget", type=int, default=120_000, help="env steps per run")
    parser.add_argument("--evals", type=int, default=N_EVALS, help="evaluation points per run")
    parser.add_argument(
        "--eval-episodes", type=int, default=EVAL_EPISODES, help="episodes per evaluation"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel")
    parser.add_argument("--out", default="runs/rl", help="output folder")
    parser.add_argument("--tensorboard", default=None, help="TensorBoard log folder")
    parser.add_argument("--write-docs", action="store_true", help="also write docs/rl.md")
    args = parser.parse_args(argv)
    for name in ("budget", "evals", "eval_episodes", "seeds", "jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def grid(args: argparse.Namespace) -> list[tuple[Any, ...]]:
    """The runs the options ask for, as :func:`run`'s arguments, the slowest
    (RecurrentPPO-LSTM) first so that a pool does not end on them."""
    command = "python " + " ".join(sys.argv)
    jobs = [
        (
            env,
            algo,
            seed,
            args.budget,
            str(args.out),
            command,
            args.tensorboard,
            args.evals,
            args.eval_episodes,
        )
        for env in args.envs
        for seed in range(args.seeds)
        for algo in args.algos
        if algo != "predictor" or is_memgym(env)
    ]
    return sorted(jobs, key=lambda job: job[1] != "rppo_lstm")


def main() -> None:
    """Run the missing runs (in a process pool) and write the report."""
    args = parse_args()
    out = Path(args.out)
    jobs = grid(args)
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            list(pool.imap_unordered(run_job, jobs))
    else:
        for job in jobs:
            run_job(job)
    write_report(out, args.write_docs)
    print((out / "rl.md").read_text())


if __name__ == "__main__":
    main()
