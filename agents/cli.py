"""The ``memgym`` command line: ``train``, ``eval``, ``extract`` and ``demo``.

memgym train memgym/RepeatEasy-v0 --out runs/repeat   # until its automaton verifies
memgym eval runs/repeat/checkpoint
memgym extract runs/repeat/checkpoint --png runs/repeat/automaton.png
memgym extract runs/repeat/checkpoint --prove --dot runs/repeat/automaton.dot
memgym demo                      # train, evaluate and extract on an Easy preset (CPU)
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import inspect
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import fields
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn, get_args, get_type_hints

import gymnasium as gym
import torch
from gymnasium.envs.registration import load_env_creator

import memgym
from agents.checkpoint import CHECKPOINT_DIR, load_checkpoint
from agents.errors import UsageError, check_device
from agents.evaluate import evaluate
from agents.extract import Automaton, TooManyStates, draw, moore_machine, prove, verify
from agents.ops.scan import METHODS as SCAN_METHODS
from agents.ops.scan import check_method
from agents.resample import MERGED, REENCODED
from agents.train import TrainConfig, TrainResult, train
from memgym import batch_rollouts, memgym_task

DEMO_PRESETS = ("memgym/RememberEasy-v0", "memgym/CountEasy-v0", "memgym/RepeatEasy-v0")
"""Presets ``memgym demo`` trains on: the defaults end each in a verified automaton on the CPU."""

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
            raise UsageError(f"--env-kwarg expects KEY=JSON (e.g. num_cards=2), got {pair!r}")
        if key in kwargs:
            raise UsageError(f"--env-kwarg {key} is given twice; give each key once")
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
        suggestion = _suggestion(env_id)
        message = re.sub(r" Did you mean: .*$", "", str(error)) if suggestion else str(error)
        raise UsageError(f"env {env_id!r}: {message}{suggestion}") from None
    try:
        env_creator(spec)(**{**spec.kwargs, **env_kwargs}).close()
    except (TypeError, ValueError) as error:
        given = ", ".join(f"{k}={json.dumps(v)}" for k, v in env_kwargs.items())
        raise UsageError(
            f"env {env_id} with {given}: {error} (it takes {', '.join(env_parameters(spec))})"
        ) from None
    try:
        batch_rollouts(env_id, 1, seed=0, **env_kwargs)
    except (KeyError, ValueError) as error:  # no info["target"], or observations not tokens
        raise UsageError(f"env {env_id} gives no supervised rollouts: {error}") from None


def _suggestion(env_id: str) -> str:
    """`` Did you mean ...?`` naming the registered ids closest to ``env_id`` (a memgym preset
    named without its namespace and version first), or nothing."""
    name = env_id.removeprefix("memgym/").removesuffix("-v0")
    close = [f"memgym/{name}-v0"] if f"memgym/{name}-v0" in gym.registry else []
    close += difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(dict.fromkeys(close))}?" if close else ""


def memgym_lengths(command: str, meta: dict[str, Any]) -> None:
    """:class:`~agents.errors.UsageError` unless the checkpoint's env is a memgym task: ``eval``
    scales its episode lengths and ``extract`` checks its automaton against it."""
    if memgym_task(meta["env_id"], **meta["env_kwargs"]) is None:
        raise UsageError(
            f"{command} needs a memgym task (its lengths and its reference machine); "
            f"{meta['env_id']} is not one"
        )


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


LARGEST = 2**63
"""Every numeric option is below it: torch and NumPy hold counts and sizes in 64-bit integers."""


def thread_count(text: str) -> int:
    """An argparse ``type``: a number of torch threads, from 1 to this machine's CPU count
    (thousands of threads crash the process)."""
    threads = int(at_least(1)(text))
    cores = os.cpu_count() or 1
    if threads > cores:
        raise argparse.ArgumentTypeError(
            f"must be at most {cores} (this machine's CPUs), got {text}"
        )
    return threads


def at_least(minimum: float, kind: Callable[[str], float] = int) -> Callable[[str], float]:
    """An argparse ``type``: a finite number of ``kind`` no smaller than ``minimum`` and below
    :data:`LARGEST`."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        if not value < LARGEST:  # inf, or past what a C integer (a step count, a size) holds
            raise argparse.ArgumentTypeError(f"must be below 2**63, got {text}")
        return value

    return parse


def folder(text: str) -> str:
    """An argparse ``type``: a folder's path, not empty (``''`` would fall back to the
    default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder's path, got an empty one")
    return text


def positive_float(text: str) -> float:
    """An argparse ``type``: a number above 0."""
    value = at_least(0.0, float)(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run ``memgym train`` asks for: TrainConfig's defaults, overridden by every option
    given on the command line (one per field, :func:`add_config_options`).

    Raises :class:`~agents.errors.UsageError` for settings TrainConfig refuses, a bad
    ``--env-kwarg``, a device this machine lacks or a scan method that cannot run on it.
    """
    options = {f.name for f in fields(TrainConfig)} - {"env_id", "env_kwargs"}
    given = {name: getattr(args, name) for name in options if getattr(args, name, None) is not None}
    env_kwargs = parse_env_kwargs(args.env_kwarg)
    check_env(args.env_id, env_kwargs)
    try:
        config = TrainConfig(env_id=args.env_id, env_kwargs=env_kwargs, **given)
    except ValueError as error:
        raise UsageError(str(error)) from None
    device = check_device(config.device)
    if config.model == "boolean":
        check_method(config.scan, device)
    elif "scan" in given:
        raise UsageError(f"--scan is the boolean RNN's scan method; a {config.model} has none")
    return config


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per :class:`TrainConfig` field (but ``env_id`` and ``env_kwargs``), its
    help the field's documentation (``metadata["help"]``) and its default, its values checked
    against the field's ``choices`` and ``minimum``."""
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
            continue
        minimum = f.metadata.get("minimum")
        parse = kind if minimum is None else at_least(minimum, kind)
        if f.name == "lr":
            parse = positive_float
        choices = f.metadata.get("choices")
        parser.add_argument(option, dest=f.name, type=parse, choices=choices, help=help_text)


def cmd_train(args: argparse.Namespace) -> None:
    """``memgym train``: train a model and write its checkpoint."""
    config = train_config(args)
    out = Path(args.out or run_name(config))
    check_out_dir(out, resume=args.resume, force=args.force)
    result = train(config, out_dir=out, resume=args.resume)
    print(
        f"{held_out_summary(result, config)}; trained {len(result.loss)} "
        f"step{'s' * (len(result.loss) != 1)} in "
        f"{result.seconds:.1f} s"
    )
    if result.harden_from is not None:
        print(f"hardened from step {result.harden_from} to {result.step}")
    grown = [r for r in result.resamples if r["output"] not in (MERGED, REENCODED)]
    if grown:
        print(f"rewired {len(grown)} dormant state bit{'s' * (len(grown) != 1)} (agents.resample)")
    reencoded = [r["step"] for r in result.resamples if r["output"] == REENCODED]
    if reencoded:
        print(
            f"re-encoded at step {reencoded[-1]} as its automaton's minimal machine, "
            f"{reencoded.count(reencoded[-1])} states (agents.reencode)"
        )
    merged = [r["step"] for r in result.resamples if r["output"] == MERGED]
    if merged:
        after = " then" if reencoded and reencoded[-1] == merged[-1] else ""  # in one call
        print(
            f"rewritten at step {merged[-1]}{after} as the {merged.count(merged[-1])}-state "
            "Moore machine RPNI's state merging learns from fresh episodes (agents.merge)"
        )
    if result.verified_by == "proof":
        print(
            f"automaton proved equal to the reference machine for every act stream of every "
            f"length at step {result.verified_at} ({result.seconds_to_verified:.1f} s)"
        )
    elif result.verified_at is not None:
        print(
            f"automaton verified by the sampled check (no proof: no reference machine fits) at "
            f"step {result.verified_at} ({result.seconds_to_verified:.1f} s)"
        )
    elif result.harden_from is not None:
        print(f"automaton not verified within {config.steps} steps")
    print(f"checkpoint: {out / CHECKPOINT_DIR}")


def held_out_summary(result: TrainResult, config: TrainConfig) -> str:
    """What the held-out evals of a run showed: when it first answered 100%, else its last
    accuracy (before the check that ended the run, if one did), else that none ran."""
    if result.steps_to_perfect is not None:
        return (
            f"100% held-out answers after {result.steps_to_perfect} steps "
            f"({result.seconds_to_perfect:.1f} s)"
        )
    if not result.eval_accuracy:
        return f"no held-out eval (the first is at step {config.eval_interval})"
    last = f"held-out answers {100 * result.eval_accuracy[-1]:.2f}%"
    if result.verified_at is None:
        return f"{last} (never 100%)"
    return (
        f"{last} at the last eval, step {result.eval_steps[-1]} (never 100%; the check at step "
        f"{result.verified_at} is below)"
    )


def check_out_dir(out: Path, resume: bool, force: bool, resumable: bool = True) -> None:
    """Refuse to train into ``out`` when it holds a run, unless resuming it or ``force``; refuse
    to resume when it holds none (:class:`~agents.errors.UsageError`; its advice names
    ``--resume`` only for a command that has it, ``resumable``). Creates ``out``, so a folder
    the system refuses fails now (``OSError``), not at the first checkpoint."""
    if resume and force:
        raise UsageError("--resume goes on with the run in OUT, --force trains over it: pick one")
    exists = (out / CHECKPOINT_DIR).exists()
    if resume and not exists:
        raise UsageError(f"--resume: {out} holds no run to resume (no {out / CHECKPOINT_DIR})")
    if exists and not resume and not force:
        go_on = "--resume to go on with it, " if resumable else ""
        raise UsageError(
            f"{out} already holds a run ({out / CHECKPOINT_DIR}); pass {go_on}--force to train "
            "over it, or --out for another folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot make the run folder ({error.strerror})") from None


def check_output_file(option: str, path: Path) -> None:
    """Make the folder of the file ``path`` that ``option`` names, before any work is done;
    :class:`~agents.errors.UsageError` naming ``option`` where ``path`` is a folder or the
    system refuses its folder."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; name a file in it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot make its folder ({error.strerror})") from None


def describe_env(meta: dict[str, Any]) -> str:
    """``memgym/Repeat-v0 {"lag": 2}``: a checkpoint's env id and kwargs (if any)."""
    kwargs = f" {json.dumps(meta['env_kwargs'])}" if meta["env_kwargs"] else ""
    return f"{meta['env_id']}{kwargs}"


def cmd_eval(args: argparse.Namespace) -> None:
    """``memgym eval``: answer accuracy at 1×, 4×, 10× and 100× length."""
    model, meta = load_checkpoint(args.checkpoint, device=args.device, scan=args.scan)
    memgym_lengths("eval", meta)
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
) -> tuple[str, Path, bool]:
    """Extract the automaton of a boolean RNN checkpoint, verify it by sampling, draw it; with
    ``proof``, also prove it against the env's reference machine for payloads of every length
    (``memgym.reference(..., every_length=True)``); with ``dot``, write its minimal Moore
    machine as DOT. The report, the PNG's path, and whether the automaton passed (the sampled
    check, and the proof where one was asked for and fitted its budget)."""
    model, meta = load_checkpoint(checkpoint, device=device, scan=scan)
    if meta["model_kind"] != "boolean":
        raise UsageError(f"extract needs a boolean RNN checkpoint, got a {meta['model_kind']} one")
    memgym_lengths("extract", meta)
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
    passed = result.verified
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
        proved = prove(automaton, reference)
        report.append(proved.summary())
        passed = passed and proved.status != "counterexample"
    if dot:
        try:
            machine = moore_machine(automaton, tokens.act_tokens, tokens.obs_tokens, reference)
        except TooManyStates as error:
            report.append(f"DOT not written: {error}")
        else:
            try:
                Path(dot).write_text(machine.to_dot())
            except OSError as error:
                raise UsageError(f"--dot {dot}: cannot write it ({error.strerror})") from None
            drawn = len(machine) - (machine.sink is not None)
            over = "all valid act streams" if reference is not None else "all act streams"
            report.append(
                f"DOT: {dot} ({drawn} states: the minimal Moore machine of the answers on {over}"
                f"{', less the sink of invalid tokens' if machine.sink is not None else ''})"
            )
    return "\n".join(report), path, passed


def cmd_extract(args: argparse.Namespace) -> None:
    """``memgym extract``: threshold, verify and draw the automaton; prove it, export it."""
    if args.png is not None and Path(args.png).suffix.lower() != ".png":
        raise UsageError(f"--png must name a .png file, got {args.png!r}")
    for option, target in (("--png", args.png), ("--dot", args.dot)):
        if target is not None:
            check_output_file(option, Path(target))
    report, path, passed = extract_and_verify(
        args.checkpoint,
        args.png,
        device=args.device,
        scan=args.scan,
        proof=args.prove,
        dot=args.dot,
    )
    print(report)
    print(f"drawing: {path}")
    if not passed:  # scripts can tell: exit status 1, as a failed test
        raise SystemExit(1)


def cmd_demo(args: argparse.Namespace) -> None:
    """``memgym demo``: train the boolean RNN on an Easy preset, evaluate it, extract it."""
    if args.preset not in DEMO_PRESETS:
        raise UsageError(f"demo presets are {', '.join(DEMO_PRESETS)}; got {args.preset!r}")
    config = TrainConfig(env_id=args.preset)
    out = Path(args.out or run_name(config))
    check_out_dir(out, resume=False, force=args.force, resumable=False)
    print(f"training the boolean RNN on {config.env_id} (CPU) until its automaton verifies")
    started = time.perf_counter()
    result = train(config, out_dir=out)
    hardened = "" if result.harden_from is None else f" (hardened from step {result.harden_from})"
    verified = "" if result.verified_at is None else ", automaton verified"
    print(f"trained {result.step} steps{hardened}{verified} in {result.seconds:.1f} s")
    accuracy = evaluate(result.model, config.env_id, factors=(1, 10), device="cpu")
    print(accuracy.summary())
    report, path, _ = extract_and_verify(out / CHECKPOINT_DIR, None, proof=True)
    print("extracted automaton:")
    print(report)
    print(f"drawing: {path}")
    print(f"total {time.perf_counter() - started:.0f} s")


UNRECOGNIZED = "unrecognized arguments: "
"""How argparse's message about arguments no option takes begins."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``memgym train: error: ...``, and that
    takes no abbreviation of an option (``--step`` is not ``--steps``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Exit with code 2 and ``PROG: error: MESSAGE`` on stderr (no usage block), naming the
        closest options to an unrecognized one, or the closest choice to an invalid one."""
        close = []
        if message.startswith(UNRECOGNIZED):
            options = [o for action in self._actions for o in action.option_strings]
            for word in message.removeprefix(UNRECOGNIZED).split():
                if word.startswith("--"):
                    close += difflib.get_close_matches(word.split("=")[0], options, n=1)
        elif choice := re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message):
            choices = re.findall(r"'([^']*)'", choice[2])
            close += difflib.get_close_matches(choice[1], choices, n=1)
        hint = f"; did you mean {' '.join(close)}?" if close else ""
        self.exit(2, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``memgym`` command."""
    parser = Parser(
        prog="memgym",
        description="Train, evaluate and extract the boolean state-space RNN on memgym tasks.",
    )
    threads = "CPU threads for torch (default 1: fastest for these small models)"
    parser.add_argument("--threads", type=thread_count, default=1, help=threads)
    parser.add_argument("--version", action="version", version=f"memgym {version('memgym')}")
    common = Parser(add_help=False)  # --threads after the command too: memgym train ... --threads
    common.add_argument("--threads", type=thread_count, default=argparse.SUPPRESS, help=threads)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "train",
        parents=[common],
        help="train a predictor on an env's rollouts",
        argument_default=argparse.SUPPRESS,  # only the options given override the base config
    )
    p.add_argument("env_id")
    add_config_options(p)
    p.add_argument(
        "--out",
        default=None,
        type=folder,
        help="output folder (default runs/<env>-<model>-s<seed>, -k<hash> with --env-kwarg)",
    )
    p.add_argument(
        "--resume", action="store_true", default=False, help="continue from OUT/checkpoint"
    )
    p.add_argument(
        "--force", action="store_true", default=False, help="train over a run already in OUT"
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
        (
            "extract",
            cmd_extract,
            "extract, verify and draw the boolean automaton (exit status 1 if it fails)",
        ),
    ):
        p = commands.add_parser(name, parents=[common], help=help)
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

    p = commands.add_parser(
        "demo", parents=[common], help="train, evaluate and extract on an Easy preset"
    )
    p.add_argument("preset", nargs="?", default=DEFAULT_DEMO, help=", ".join(DEMO_PRESETS))
    p.add_argument("--out", type=folder, help="output folder (default runs/<env>-boolean-s0)")
    p.add_argument("--force", action="store_true", help="train over a run already in OUT")
    p.set_defaults(run=cmd_demo)
    commands.metavar = "{" + ",".join(commands.choices) + "}"  # named when none is given
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``memgym`` console script.

    Every :class:`~agents.errors.UsageError` (a bad option, env kwarg, device, scan method or
    checkpoint), ``OSError`` (a file or folder the system refuses) and failed memory allocation
    (sizes the machine cannot hold) ends the command with one line on stderr,
    ``memgym <command>: error: ...``, and exit code 2, as argparse's own errors do; other
    exceptions are faults and keep their traceback.
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the command's own parser: "memgym train: error: ..."
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"{UNRECOGNIZED}{' '.join(unknown)}")
    torch.set_num_threads(args.threads)
    try:
        args.run(args)
    except (UsageError, OSError) as error:  # OSError: a folder or file the system refuses
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")
    except (MemoryError, RuntimeError) as error:
        if not isinstance(error, MemoryError) and "can't allocate memory" not in str(error):
            raise  # a fault, not a size
        parser.exit(
            2,
            f"{parser.prog} {args.command}: error: out of memory "
            f"({(str(error).splitlines() or [type(error).__name__])[0]}); "
            "ask for less: a smaller --batch-size or --state-dim, or shorter episodes or fewer "
            "cards in --env-kwarg\n",
        )


if __name__ == "__main__":
    main()
