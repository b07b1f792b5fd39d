"""The ``memgym`` command line: ``train``, ``eval``, ``extract`` and ``demo``.

memgym train memgym/RepeatEasy-v0 --out runs/repeat   # until its automaton verifies
memgym eval runs/repeat/checkpoint
memgym extract runs/repeat/checkpoint --png runs/repeat/automaton.png
memgym demo                      # train, evaluate and extract on an Easy preset (CPU)
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

import torch

from agents.checkpoint import CHECKPOINT_DIR, load_checkpoint
from agents.evaluate import evaluate
from agents.extract import Automaton, draw, verify
from agents.train import TrainConfig, train
from memgym import batch_rollouts

DEMO_PRESETS = ("memgym/RememberEasy-v0", "memgym/CountEasy-v0", "memgym/RepeatEasy-v0")
"""Presets ``memgym demo`` trains on: the defaults end each in a verified automaton on the CPU."""

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


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run ``memgym train`` asks for: TrainConfig's defaults, overridden by every option
    given on the command line (one per field, :func:`add_config_options`)."""
    options = {f.name for f in fields(TrainConfig)} - {"env_id", "env_kwargs"}
    given = {name: getattr(args, name) for name in options if name in args}
    return TrainConfig(env_id=args.env_id, env_kwargs=parse_env_kwargs(args.env_kwarg), **given)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per :class:`TrainConfig` field (but ``env_id`` and ``env_kwargs``), its
    help the field's documentation (``metadata["help"]``) and its default."""
    defaults = TrainConfig()
    hints = get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        if f.name in ("env_id", "env_kwargs"):
            continue
        kind = next(
            t for t in (bool, int, float, str) if t in (hints[f.name], *get_args(hints[f.name]))
        )
        default = getattr(defaults, f.name)
        shown = "" if default is None else f" (default {default})"
        help_text = (f.metadata["help"] + shown).replace("%", "%%")
        option = "--" + f.name.replace("_", "-")
        if kind is bool:
            parser.add_argument(option, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            choices = f.metadata.get("choices")
            parser.add_argument(option, dest=f.name, type=kind, choices=choices, help=help_text)


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
        print(f"hardened from step {result.harden_from} to {result.step}")
    if result.resamples:
        print(f"rewired {len(result.resamples)} dormant state bits (agents.resample)")
    if result.verified_at is not None:
        print(
            f"automaton verified at step {result.verified_at} ({result.seconds_to_verified:.1f} s)"
        )
    elif result.harden_from is not None:
        print(f"automaton not verified within {config.steps} steps")
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


def extract_and_verify(checkpoint: str | Path, png: str | Path | None) -> tuple[str, Path]:
    """Extract the automaton of a boolean RNN checkpoint, verify it, draw it; the report and PNG."""
    model, meta = load_checkpoint(checkpoint)
    if meta["model_kind"] != "boolean":
        raise SystemExit(f"extract needs a boolean RNN checkpoint, got a {meta['model_kind']} one")
    automaton = Automaton.from_model(model)
    result = verify(automaton, meta["env_id"], meta["env_kwargs"])
    tokens = batch_rollouts(meta["env_id"], 1, seed=0, **meta["env_kwargs"])
    path = draw(
        automaton,
        png or Path(checkpoint) / "automaton.png",
        tokens.act_tokens,
        tokens.obs_tokens,
        result.used_bits,
    )
    return result.summary(), path


def cmd_extract(args: argparse.Namespace) -> None:
    """``memgym extract``: threshold, verify and draw the automaton."""
    report, path = extract_and_verify(args.checkpoint, args.png)
    print(report)
    print(f"drawing: {path}")


def cmd_demo(args: argparse.Namespace) -> None:
    """``memgym demo``: train the boolean RNN on an Easy preset, evaluate it, extract it."""
    if args.preset not in DEMO_PRESETS:
        raise SystemExit(f"demo presets: {', '.join(DEMO_PRESETS)}; got {args.preset!r}")
    config = TrainConfig(env_id=args.preset)
    out = Path(args.out or run_name(config))
    print(f"training the boolean RNN on {config.env_id} (CPU) until its automaton verifies")
    started = time.perf_counter()
    result = train(config, out_dir=out)
    hardened = "" if result.harden_from is None else f" (hardened from step {result.harden_from})"
    verified = "" if result.verified_at is None else ", automaton verified"
    print(f"trained {result.step} steps{hardened}{verified} in {result.seconds:.1f} s")
    accuracy = evaluate(result.model, config.env_id, factors=(1, 10), device="cpu")
    print(accuracy.summary())
    report, path = extract_and_verify(out / CHECKPOINT_DIR, None)
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
    p = commands.add_parser(
        "train",
        help="train a predictor on an env's rollouts",
        argument_default=argparse.SUPPRESS,  # only the options given override the base config
    )
    p.add_argument("env_id")
    add_config_options(p)
    p.add_argument("--out", default=None, help="output folder (default runs/<env>-<model>-s<seed>)")
    p.add_argument(
        "--resume", action="store_true", default=False, help="continue from OUT/checkpoint"
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
