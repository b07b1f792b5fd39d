"""The ``memgym`` command line: ``train``, ``eval``, ``extract`` and ``demo``.

memgym train memgym/RepeatEasy-v0 --state-dim 32 --steps 3000 --out runs/repeat
memgym train memgym/CountEasy-v0 --recipe   # the settings of docs/results.md
memgym eval runs/repeat/checkpoint
memgym extract runs/repeat/checkpoint --png runs/repeat/automaton.png
memgym extract runs/repeat/checkpoint --prove --dot runs/repeat/automaton.dot
memgym demo                      # train, evaluate and extract on an Easy preset (CPU)
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import memgym
from agents.baselines import MODEL_KINDS
from agents.checkpoint import CHECKPOINT_DIR, load_checkpoint
from agents.evaluate import evaluate
from agents.extract import Automaton, TooManyStates, draw, moore_machine, prove, verify
from agents.ops.scan import METHODS as SCAN_METHODS
from agents.recipes import recipe
from agents.train import LOSSES, TrainConfig, train
from memgym import batch_rollouts, memgym_task

DEMO_CONFIGS: dict[str, TrainConfig] = {
    "memgym/RememberEasy-v0": TrainConfig(
        env_id="memgym/RememberEasy-v0", state_dim=16, steps=3000
    ),
    "memgym/CountEasy-v0": recipe("CountEasy"),
    "memgym/RepeatEasy-v0": recipe("RepeatEasy"),
}
"""Settings of ``memgym demo`` per Easy preset: Count and Repeat follow their recipes
(``agents.recipes``); RememberEasy verifies without hardening, which keeps the README's main job
short. Each reaches 100% held-out answers at 1× length on the CPU, and its automaton verifies."""

DEFAULT_DEMO = "memgym/RememberEasy-v0"


def parse_env_kwargs(pairs: list[str]) -> dict[str, Any]:
    """``["num_cards=2", "n_range=[4,8]"]`` → ``{"num_cards": 2, "n_range": [4, 8]}`` (JSON values,
    else strings)."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env-kwarg expects KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


def run_name(config: TrainConfig) -> str:
    """Default output folder name of a run: ``runs/<env>-<model>-s<seed>``."""
    env = config.env_id.removeprefix("memgym/").removesuffix("-v0")
    return f"runs/{env}-{config.model}-s{config.seed}"


TRAIN_OPTIONS = {
    "model": "model",
    "state_dim": "state_dim",
    "steps": "steps",
    "batch_size": "batch_size",
    "lr": "lr",
    "noise": "param_noise",
    "loss": "loss",
    "init_shift": "init_shift",
    "curriculum": "curriculum_steps",
    "stop_after_perfect": "stop_after_perfect",
    "harden_steps": "harden_steps",
    "harden_start": "harden_start",
    "harden_noise": "harden_noise",
    "harden_prior": "harden_prior",
    "prior_decoupled": "prior_decoupled",
    "resample_interval": "resample_interval",
    "resample_successors": "resample_successors",
    "resample_delays": "resample_delays",
    "resample_latches": "resample_latches",
    "resample_episodes": "resample_episodes",
    "seed": "seed",
    "device": "device",
    "scan": "scan",
}
"""``memgym train`` options (argparse names) and the TrainConfig fields they set."""


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run ``memgym train`` asks for: TrainConfig's defaults, or with ``--recipe`` the
    preset's recipe (``agents.recipes``), overridden by every option given on the command line."""
    given = {
        field: getattr(args, option) for option, field in TRAIN_OPTIONS.items() if option in args
    }
    if args.recipe:
        try:
            base = recipe(args.env_id, given.get("model", "boolean"), steps=given.get("steps"))
        except ValueError as error:
            raise SystemExit(f"--recipe: {error}") from None
    else:
        base = TrainConfig(env_id=args.env_id)
    return replace(base, env_kwargs=parse_env_kwargs(args.env_kwarg), **given)


def cmd_train(args: argparse.Namespace) -> None:
    """``memgym train``: train a model and write its checkpoint."""
    config = train_config(args)
    out = Path(args.out or run_name(config))
    result = train(config, out_dir=out, resume=args.resume)
    reached = (
        f"100% held-out answers after {result.steps_to_perfect} steps "
        f"({result.seconds_to_perfect:.1f} s)"
        if result.steps_to_perfect is not None
        else f"held-out answers {100 * result.eval_accuracy[-1]:.2f}% (never 100%)"
    )
    print(f"{reached}; trained {len(result.loss)} steps in {result.seconds:.1f} s")
    if result.harden_from is not None:
        print(f"hardened from step {result.harden_from} to {len(result.loss)}")
    if result.resamples:
        print(f"rewired {len(result.resamples)} dormant state bits (agents.resample)")
    print(f"checkpoint: {out / CHECKPOINT_DIR}")


def cmd_eval(args: argparse.Namespace) -> None:
    """``memgym eval``: answer accuracy at 1×, 4×, 10× and 100× length."""
    model, meta = load_checkpoint(args.checkpoint, device=args.device)
    result = evaluate(
        model,
        meta["env_id"],
        meta["env_kwargs"],
        episodes=args.episodes,
        long_episodes=max(1, args.episodes // 10),
        device=args.device,
    )
    print(f"{meta['env_id']} ({meta['model_kind']}, state {meta['model_config']['state_dim']})")
    print(result.summary())


def extract_and_verify(
    checkpoint: str | Path,
    png: str | Path | None,
    *,
    proof: bool = False,
    longest: int | None = None,
    dot: str | Path | None = None,
) -> tuple[str, Path]:
    """Extract the automaton of a boolean RNN checkpoint, verify it by sampling, draw it; with
    ``proof``, also prove it against the env's reference machine (for payloads of up to
    ``longest`` tokens, default the env's ``n_max``); with ``dot``, write its minimal Moore
    machine as DOT. The report and the PNG's path."""
    model, meta = load_checkpoint(checkpoint)
    if meta["model_kind"] != "boolean":
        raise SystemExit(f"extract needs a boolean RNN checkpoint, got a {meta['model_kind']} one")
    env_id, env_kwargs = meta["env_id"], meta["env_kwargs"]
    automaton = Automaton.from_model(model)
    result = verify(automaton, env_id, env_kwargs)
    report = [result.summary()]
    tokens = batch_rollouts(env_id, 1, seed=0, **env_kwargs)
    path = draw(
        automaton,
        png or Path(checkpoint) / "automaton.png",
        tokens.act_tokens,
        tokens.obs_tokens,
        result.used_bits,
    )
    reference = None
    if proof or dot:
        params = memgym_task(env_id, **env_kwargs).params
        n_min, n_max = params["n_range"]
        params["n_range"] = (n_min, longest or n_max)
        try:
            reference = memgym.reference(env_id, **params)
        except ValueError as error:
            report.append(f"no reference machine ({error}): sampled check only")
        else:
            states = len(reference.outputs)
            report.append(f"reference machine: {states:,} states, n = {n_min}..{longest or n_max}")
    if proof and reference is not None:
        report.append(prove(automaton, reference).summary())
    if dot:
        try:
            machine = moore_machine(automaton, tokens.act_tokens, tokens.obs_tokens, reference)
        except TooManyStates as error:
            report.append(f"DOT not written: {error}")
        else:
            Path(dot).write_text(machine.to_dot())
            report.append(f"DOT: {dot} ({len(machine)} states, minimal Moore machine)")
    return "\n".join(report), path


def cmd_extract(args: argparse.Namespace) -> None:
    """``memgym extract``: threshold, verify and draw the automaton; prove it, export it."""
    report, path = extract_and_verify(
        args.checkpoint,
        args.png,
        proof=args.prove or args.prove_up_to is not None,
        longest=args.prove_up_to,
        dot=args.dot,
    )
    print(report)
    print(f"drawing: {path}")


def cmd_demo(args: argparse.Namespace) -> None:
    """``memgym demo``: train the boolean RNN on an Easy preset, evaluate it, extract it."""
    if args.preset not in DEMO_CONFIGS:
        raise SystemExit(f"demo presets: {', '.join(DEMO_CONFIGS)}; got {args.preset!r}")
    config = replace(DEMO_CONFIGS[args.preset], stop_after_perfect=10)
    out = Path(args.out or run_name(config))
    print(f"training the boolean RNN on {config.env_id} (state {config.state_dim}, CPU)")
    started = time.perf_counter()
    result = train(config, out_dir=out)
    hardened = "" if result.harden_from is None else f" (hardened from step {result.harden_from})"
    print(f"trained {len(result.loss)} steps{hardened} in {result.seconds:.1f} s")
    accuracy = evaluate(result.model, config.env_id, factors=(1, 10), device="cpu")
    print(accuracy.summary())
    report, path = extract_and_verify(out / CHECKPOINT_DIR, None, proof=True)
    print("extracted automaton:")
    print(report)
    print(f"drawing: {path}")
    print(f"total {time.perf_counter() - started:.0f} s")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``memgym`` command."""
    parser = argparse.ArgumentParser(
        prog="memgym",
        description="Train, evaluate and extract the boolean state-space RNN on memgym tasks.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: fastest for these small models)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = TrainConfig()

    p = commands.add_parser(
        "train",
        help="train a predictor on an env's rollouts",
        argument_default=argparse.SUPPRESS,  # only the options given override the base config
    )
    p.add_argument("env_id")
    p.add_argument(
        "--recipe",
        action="store_true",
        default=False,
        help="start from the preset's settings of docs/results.md (agents.recipes), not the "
        "defaults; other options override them",
    )
    p.add_argument("--model", choices=MODEL_KINDS, help=f"default {defaults.model}")
    p.add_argument("--state-dim", type=int, help=f"default {defaults.state_dim}")
    p.add_argument("--steps", type=int, help=f"default {defaults.steps}")
    p.add_argument("--batch-size", type=int, help=f"default {defaults.batch_size}")
    p.add_argument("--lr", type=float, help=f"default {defaults.lr}")
    p.add_argument(
        "--noise", type=float, help=f"parameter noise σ (default {defaults.param_noise})"
    )
    p.add_argument("--loss", choices=LOSSES, help=f"default {defaults.loss}")
    p.add_argument("--init-shift", type=float, help="seed a shift in every A_i (default 0)")
    p.add_argument("--curriculum", type=int, metavar="STEPS", help="widen n_max over STEPS")
    p.add_argument("--stop-after-perfect", type=int, metavar="EVALS")
    p.add_argument(
        "--harden-steps",
        type=int,
        metavar="STEPS",
        help="after the first 100%% eval, harden the boolean RNN for STEPS steps, then stop",
    )
    p.add_argument(
        "--harden-start",
        type=int,
        metavar="STEP",
        help="start hardening at STEP at the latest (default: STEPS before the end)",
    )
    p.add_argument(
        "--harden-noise",
        type=float,
        help=f"hardening's row noise σ (default {defaults.harden_noise})",
    )
    p.add_argument(
        "--harden-prior",
        type=float,
        help="weight of the keep prior while hardening (default 0; counters: 0.0003)",
    )
    p.add_argument(
        "--prior-decoupled",
        action="store_true",
        help="apply the keep prior as a step of its own after Adam's, as AdamW decays weights",
    )
    p.add_argument(
        "--resample-interval",
        type=int,
        metavar="STEPS",
        help="while hardening, rewire dormant state bits every STEPS steps (default 0: never)",
    )
    p.add_argument(
        "--resample-successors",
        action="store_true",
        help="resampling also gives each missed output an answer or successor bit",
    )
    p.add_argument(
        "--resample-delays",
        action="store_true",
        help="resampling also gives each missed output an answer bit or a delay line",
    )
    p.add_argument(
        "--resample-latches",
        action="store_true",
        help="resampling also gives each missed output an answer bit or a latch",
    )
    p.add_argument(
        "--resample-episodes",
        type=int,
        metavar="N",
        help="resample from N fresh episodes, not the training batch (default 0: the batch)",
    )
    p.add_argument("--seed", type=int, help=f"default {defaults.seed}")
    p.add_argument("--out", default=None, help="output folder (default runs/<env>-<model>-s<seed>)")
    p.add_argument(
        "--resume", action="store_true", default=False, help="continue from OUT/checkpoint"
    )
    p.add_argument("--device", help=f"default {defaults.device}")
    p.add_argument(
        "--scan",
        choices=SCAN_METHODS,
        help="the boolean RNN's scan (default auto; compiled: 2-5x faster on the CPU at D >= 128)",
    )
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("eval", help="answer accuracy at 1x, 4x, 10x, 100x length")
    p.add_argument("checkpoint")
    p.add_argument("--episodes", type=int, default=10_000, help="per length (a tenth at 100x)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=cmd_eval)

    p = commands.add_parser("extract", help="extract, verify and draw the boolean automaton")
    p.add_argument("checkpoint")
    p.add_argument("--png", help="drawing path (default CHECKPOINT/automaton.png)")
    p.add_argument(
        "--prove",
        action="store_true",
        help="prove the automaton equal to the env's reference machine on every act stream",
    )
    p.add_argument(
        "--prove-up-to",
        type=int,
        metavar="N",
        help="prove for payloads of up to N tokens (default: the env's n_max)",
    )
    p.add_argument("--dot", metavar="FILE", help="write the minimal Moore machine as Graphviz DOT")
    p.set_defaults(run=cmd_extract)

    p = commands.add_parser("demo", help="train, evaluate and extract on an Easy preset")
    p.add_argument("preset", nargs="?", default=DEFAULT_DEMO)
    p.add_argument("--out", help="output folder (default runs/<env>-boolean-s0)")
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``memgym`` console script."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.run(args)


if __name__ == "__main__":
    main()
