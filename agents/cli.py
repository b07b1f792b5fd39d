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
import hashlib
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import gymnasium as gym
import torch
from gymnasium.envs.registration import load_env_creator

import memgym
from agents.baselines import MODEL_KINDS
from agents.checkpoint import CHECKPOINT_DIR, load_checkpoint
from agents.errors import UsageError, check_device
from agents.evaluate import evaluate
from agents.extract import Automaton, TooManyStates, draw, moore_machine, prove, verify
from agents.ops.scan import METHODS as SCAN_METHODS
from agents.ops.scan import check_method
from agents.recipes import EVALS_PER_RUN, recipe
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
    """``["num_cards=2", "n_range=[4,8]"]`` → ``{"num_cards": 2, "n_range": [4, 8]}``.

    Each value is JSON (a string is quoted: ``render_mode="ansi"``); raises
    :class:`~agents.errors.UsageError` for a pair without ``=`` or a value that is not JSON.
    """
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env-kwarg expects KEY=VALUE (e.g. num_cards=2), got {pair!r}")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            raise UsageError(
                f"--env-kwarg {pair}: the value must be JSON, e.g. num_cards=2, n_range=[4,8], "
                "render_mode='\"ansi\"'"
            ) from None
    return kwargs


def check_env(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Build ``env_id`` with ``env_kwargs`` once; :class:`~agents.errors.UsageError` naming the
    problem (an unknown id, an unknown or bad kwarg, with the kwargs the env takes)."""
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as error:
        raise UsageError(f"env {env_id!r}: {error}") from None
    try:
        env_creator(spec)(**{**spec.kwargs, **env_kwargs}).close()
    except (TypeError, ValueError) as error:
        given = ", ".join(f"{k}={json.dumps(v)}" for k, v in env_kwargs.items())
        raise UsageError(
            f"env {env_id} with {given}: {error} (it takes {', '.join(env_parameters(spec))})"
        ) from None


def env_creator(spec: gym.envs.registration.EnvSpec) -> Callable[..., gym.Env]:
    """The class or function that builds the env of ``spec``."""
    creator = spec.entry_point
    return load_env_creator(creator) if isinstance(creator, str) else creator


def env_parameters(spec: gym.envs.registration.EnvSpec) -> list[str]:
    """``name=default`` (JSON) of each keyword argument the env of ``spec`` takes."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(env_creator(spec)).parameters.items()
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    } | spec.kwargs
    return [f"{name}={json.dumps(value, default=str)}" for name, value in defaults.items()]


def run_name(config: TrainConfig) -> str:
    """Default output folder of a run: ``runs/<env>-<model>-s<seed>``, plus ``-k<hash>`` of
    the env kwargs when there are any (runs on different envs never share a folder)."""
    env = config.env_id.removeprefix("memgym/").removesuffix("-v0")
    name = f"runs/{env}-{config.model}-s{config.seed}"
    if config.env_kwargs:
        kwargs = json.dumps(config.env_kwargs, sort_keys=True)
        name += f"-k{hashlib.sha256(kwargs.encode()).hexdigest()[:8]}"
    return name


def at_least(minimum: float, kind: Callable[[str], float] = int) -> Callable[[str], float]:
    """An argparse ``type``: a number of ``kind`` no smaller than ``minimum``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a number above 0."""
    value = at_least(0.0, float)(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


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
    preset's recipe (``agents.recipes``), overridden by every option given on the command line.

    Raises :class:`~agents.errors.UsageError` for settings TrainConfig refuses, a bad
    ``--env-kwarg``, a device this machine lacks or a scan method that cannot run on it.
    """
    given = {
        field: getattr(args, option) for option, field in TRAIN_OPTIONS.items() if option in args
    }
    env_kwargs = parse_env_kwargs(args.env_kwarg)
    check_env(args.env_id, env_kwargs)
    try:
        if args.recipe:  # the preset's budget, then the options (a shorter --steps and a
            # --harden-start below it are checked together)
            base = recipe(args.env_id, given.get("model", "boolean"))
            if "steps" in given:
                given["eval_interval"] = max(1, given["steps"] // EVALS_PER_RUN)
        else:
            base = TrainConfig(env_id=args.env_id)
        config = replace(base, env_kwargs=env_kwargs, **given)
    except ValueError as error:
        raise UsageError(f"{'--recipe: ' if args.recipe else ''}{error}") from None
    device = check_device(config.device)
    if config.model == "boolean":
        check_method(config.scan, device)
    return config


def cmd_train(args: argparse.Namespace) -> None:
    """``memgym train``: train a model and write its checkpoint."""
    config = train_config(args)
    out = Path(args.out or run_name(config))
    check_out_dir(out, resume=args.resume, force=args.force)
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


def check_out_dir(out: Path, resume: bool, force: bool) -> None:
    """Refuse to train into ``out`` when it holds a run, unless resuming it or ``force``; refuse
    to resume when it holds none (:class:`~agents.errors.UsageError`). Creates ``out``, so a
    folder the system refuses fails now (``OSError``), not at the first checkpoint."""
    exists = (out / CHECKPOINT_DIR).exists()
    if resume and not exists:
        raise UsageError(f"--resume: {out} holds no run to resume (no {out / CHECKPOINT_DIR})")
    if exists and not resume and not force:
        raise UsageError(
            f"{out} already holds a run ({out / CHECKPOINT_DIR}); pass --resume to go on with "
            "it, --force to train over it, or --out for another folder"
        )
    out.mkdir(parents=True, exist_ok=True)


def describe_env(meta: dict[str, Any]) -> str:
    """``memgym/Repeat-v0 {"lag": 2}``: a checkpoint's env id and kwargs (if any)."""
    kwargs = f" {json.dumps(meta['env_kwargs'])}" if meta["env_kwargs"] else ""
    return f"{meta['env_id']}{kwargs}"


def cmd_eval(args: argparse.Namespace) -> None:
    """``memgym eval``: answer accuracy at 1×, 4×, 10× and 100× length."""
    model, meta = load_checkpoint(args.checkpoint, device=args.device, scan=args.scan)
    result = evaluate(
        model,
        meta["env_id"],
        meta["env_kwargs"],
        episodes=args.episodes,
        long_episodes=max(1, args.episodes // 10),
        device=args.device,
    )
    scan = f", scan {model.scan}" if hasattr(model, "scan") else ""
    shape = f"{meta['model_kind']}, state {meta['model_config']['state_dim']}"
    print(f"{describe_env(meta)} ({shape}{scan}, {args.device})")
    print(result.summary())


def extract_and_verify(
    checkpoint: str | Path,
    png: str | Path | None,
    *,
    device: str = "cpu",
    scan: str | None = None,
    proof: bool = False,
    dot: str | Path | None = None,
) -> tuple[str, Path]:
    """Extract the automaton of a boolean RNN checkpoint, verify it by sampling, draw it; with
    ``proof``, also prove it against the env's reference machine for payloads of every length
    (``memgym.reference(..., every_length=True)``); with ``dot``, write its minimal Moore
    machine as DOT. The report and the PNG's path."""
    model, meta = load_checkpoint(checkpoint, device=device, scan=scan)
    if meta["model_kind"] != "boolean":
        raise UsageError(f"extract needs a boolean RNN checkpoint, got a {meta['model_kind']} one")
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
        try:
            reference = memgym.reference(env_id, every_length=True, **env_kwargs)
        except ValueError as error:
            report.append(f"no reference machine ({error}): sampled check only")
        else:
            n_min = memgym_task(env_id, **env_kwargs).n_min
            report.append(
                f"reference machine: {len(reference.outputs):,} states, payloads of every "
                f"length n >= {n_min}"
            )
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
    if args.png is not None and Path(args.png).suffix.lower() != ".png":
        raise UsageError(f"--png must name a .png file, got {args.png!r}")
    report, path = extract_and_verify(
        args.checkpoint,
        args.png,
        device=args.device,
        scan=args.scan,
        proof=args.prove,
        dot=args.dot,
    )
    print(report)
    print(f"drawing: {path}")


def cmd_demo(args: argparse.Namespace) -> None:
    """``memgym demo``: train the boolean RNN on an Easy preset, evaluate it, extract it."""
    if args.preset not in DEMO_CONFIGS:
        raise UsageError(f"demo presets are {', '.join(DEMO_CONFIGS)}; got {args.preset!r}")
    config = replace(DEMO_CONFIGS[args.preset], stop_after_perfect=10)
    out = Path(args.out or run_name(config))
    check_out_dir(out, resume=False, force=args.force)
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


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``memgym train: error: ...``."""

    def error(self, message: str) -> NoReturn:
        """Exit with code 2 and ``PROG: error: MESSAGE`` on stderr (no usage block)."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``memgym`` command."""
    parser = Parser(
        prog="memgym",
        description="Train, evaluate and extract the boolean state-space RNN on memgym tasks.",
    )
    parser.add_argument(
        "--threads",
        type=at_least(1),
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
    p.add_argument("--state-dim", type=at_least(2), help=f"default {defaults.state_dim}")
    p.add_argument("--steps", type=at_least(1), help=f"default {defaults.steps}")
    p.add_argument("--batch-size", type=at_least(1), help=f"default {defaults.batch_size}")
    p.add_argument("--lr", type=positive_float, help=f"default {defaults.lr}")
    p.add_argument(
        "--noise",
        type=at_least(0.0, float),
        help=f"parameter noise σ (default {defaults.param_noise})",
    )
    p.add_argument("--loss", choices=LOSSES, help=f"default {defaults.loss}")
    p.add_argument(
        "--init-shift", type=at_least(0.0, float), help="seed a shift in every A_i (default 0)"
    )
    p.add_argument("--curriculum", type=at_least(0), metavar="STEPS", help="widen n_max over STEPS")
    p.add_argument("--stop-after-perfect", type=at_least(0), metavar="EVALS")
    p.add_argument(
        "--harden-steps",
        type=at_least(0),
        metavar="STEPS",
        help="after the first 100%% eval, harden the boolean RNN for STEPS steps, then stop",
    )
    p.add_argument(
        "--harden-start",
        type=at_least(0),
        metavar="STEP",
        help="start hardening at STEP at the latest (default: STEPS before the end)",
    )
    p.add_argument(
        "--harden-noise",
        type=at_least(0.0, float),
        help=f"hardening's row noise σ (default {defaults.harden_noise})",
    )
    p.add_argument(
        "--harden-prior",
        type=at_least(0.0, float),
        help="weight of the keep prior while hardening (default 0; counters: 0.0003)",
    )
    p.add_argument(
        "--prior-decoupled",
        action="store_true",
        help="apply the keep prior as a step of its own after Adam's, as AdamW decays weights",
    )
    p.add_argument(
        "--resample-interval",
        type=at_least(0),
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
        type=at_least(0),
        metavar="N",
        help="resample from N fresh episodes, not the training batch (default 0: the batch)",
    )
    p.add_argument("--seed", type=at_least(0), help=f"default {defaults.seed}")
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default runs/<env>-<model>-s<seed>, -k<hash> with --env-kwarg)",
    )
    p.add_argument(
        "--resume", action="store_true", default=False, help="continue from OUT/checkpoint"
    )
    p.add_argument(
        "--force", action="store_true", default=False, help="train over a run already in OUT"
    )
    p.add_argument("--device", help=f"default {defaults.device}")
    p.add_argument(
        "--scan",
        choices=SCAN_METHODS,
        help="the boolean RNN's scan (default auto; compiled: 2-5x faster on the CPU at D >= 128)",
    )
    p.add_argument(
        "--env-kwarg",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="an env parameter as JSON, e.g. --env-kwarg num_cards=2 --env-kwarg n_range=[4,8]",
    )
    p.set_defaults(run=cmd_train)

    for name, run, help in (
        ("eval", cmd_eval, "answer accuracy at 1x, 4x, 10x, 100x length"),
        ("extract", cmd_extract, "extract, verify and draw the boolean automaton"),
    ):
        p = commands.add_parser(name, help=help)
        p.add_argument("checkpoint", help="a run's checkpoint/ folder")
        p.add_argument("--device", default="cpu", help="where the model runs (default cpu)")
        p.add_argument(
            "--scan",
            choices=SCAN_METHODS,
            help="the boolean RNN's scan (default: the one it trained with where it runs here, "
            "else auto)",
        )
        p.set_defaults(run=run)
        if name == "eval":
            p.add_argument(
                "--episodes", type=at_least(1), default=10_000, help="per length (a tenth at 100x)"
            )
        else:
            p.add_argument("--png", help="drawing path (default CHECKPOINT/automaton.png)")
            p.add_argument(
                "--prove",
                action="store_true",
                help="prove the automaton equal to the env's reference machine on every act stream "
                "of every length",
            )
            p.add_argument(
                "--dot", metavar="FILE", help="write the minimal Moore machine as Graphviz DOT"
            )

    p = commands.add_parser("demo", help="train, evaluate and extract on an Easy preset")
    p.add_argument("preset", nargs="?", default=DEFAULT_DEMO, help=", ".join(DEMO_CONFIGS))
    p.add_argument("--out", help="output folder (default runs/<env>-boolean-s0)")
    p.add_argument("--force", action="store_true", help="train over a run already in OUT")
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``memgym`` console script.

    Every :class:`~agents.errors.UsageError` (a bad option, env kwarg, device, scan method or
    checkpoint) and ``OSError`` (a file or folder the system refuses) ends the command with one
    line on stderr, ``memgym <command>: error: ...``,
    and exit code 2, as argparse's own errors do; other exceptions are faults and keep their
    traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        args.run(args)
    except (UsageError, OSError) as error:  # OSError: a folder or file the system refuses
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")


if __name__ == "__main__":
    main()
