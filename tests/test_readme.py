"""Every ```python and ```bash block of README.md runs as written, with tiny budgets.

- Python blocks run in order in one namespace, after the replacements of ``PYTHON_BUDGETS``
  (each must occur in the README); SB3's PPO is monkeypatched to update after 64 steps, once.
- ``memgym ...`` commands run in order through :func:`agents.cli.main` in one folder, each in
  the tiny form ``COMMAND_BUDGETS`` gives it; the test checks that the table holds exactly the
  README's commands and that a tiny form differs from its command in ``BUDGET_OPTIONS`` only.
  The budgets the command line has no option for (automaton verification, scan-gap sample)
  are cut by monkeypatching.
- ``make TARGET`` lines are checked against the Makefile's targets, ``pip install -e SPEC``
  lines against pyproject.toml's extras, and ``python benchmarks/...`` commands (hours of work
  each) by the script's own argument parser.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

PYTHON_BUDGETS = {
    "steps=30000": "steps=30",
    "learn(120_000)": "learn(1)",
    "learn(1_000)": "learn(1)",
}
"""Text of the README's Python blocks → its tiny-budget form."""

COMMAND_BUDGETS = {
    "memgym train memgym/RepeatEasy-v0 --out runs/repeat": "memgym train memgym/RepeatEasy-v0 "
    "--out runs/repeat --steps 40",
    "memgym train memgym/RepeatEasy-v0 --out runs/repeat --steps 40000 --resume": "memgym train "
    "memgym/RepeatEasy-v0 --out runs/repeat --steps 60 --resume",
    "memgym eval runs/repeat/checkpoint": "memgym eval runs/repeat/checkpoint --episodes 20",
    "memgym extract runs/repeat/checkpoint": "memgym extract runs/repeat/checkpoint",
    "memgym extract runs/repeat/checkpoint --prove --dot runs/repeat/automaton.dot": "memgym "
    "extract runs/repeat/checkpoint --prove --dot runs/repeat/automaton.dot",
    "memgym train memgym/RepeatEasy-v0 --model lstm": "memgym train memgym/RepeatEasy-v0 "
    "--model lstm --steps 5",
    "memgym train memgym/Repeat-v0 --env-kwarg lag=2 --env-kwarg 'n_range=[4, 16]'": "memgym "
    "train memgym/Repeat-v0 --env-kwarg lag=2 --env-kwarg 'n_range=[4, 16]' --steps 5",
    "memgym train --help": "memgym train --help",
    "memgym --help": "memgym --help",
}
"""Each ``memgym`` command of the README → the tiny-budget form the test runs."""

BUDGET_OPTIONS = {"steps", "harden_steps", "harden_start", "episodes"}
"""The options in which a tiny form may differ from the README's command."""


HELP_SHOWS = {"memgym train --help": "--check-interval", "memgym --help": "demo"}
"""What each README ``--help`` command must print: a TrainConfig option, the commands."""


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of ``language``, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def commands() -> list[list[str]]:
    """The README's bash lines as argument lists (comments dropped)."""
    lines = [line for block in blocks("bash") for line in block.splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


def test_the_readme_has_blocks_of_both_kinds():
    assert len(blocks("python")) >= 4 and len(commands()) >= 10


def test_python_blocks_run_in_order(monkeypatch, tmp_path):
    from stable_baselines3 import PPO

    monkeypatch.chdir(tmp_path)
    init = PPO.__init__  # PPO collects 2,048 steps and runs 10 epochs per update by default

    def small_ppo(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "n_steps": 64, "batch_size": 64, "n_epochs": 1})

    monkeypatch.setattr(PPO, "__init__", small_ppo)
    code = "\n".join(blocks("python"))
    for text, tiny in PYTHON_BUDGETS.items():
        assert text in code, f"{text!r} is no longer in README.md's Python blocks"
        code = code.replace(text, tiny)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["model"] is not None


def test_memgym_commands_run_with_tiny_budgets(monkeypatch, tmp_path, capsys):
    from agents import cli
    from agents.extract import verify

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        cli, "verify", functools.partial(verify, exhaustive_budget=2000, random_episodes=200)
    )
    monkeypatch.setattr("agents.evaluate.SCAN_GAP_BYTES", 1 << 22)
    readme = [shlex.join(argv) for argv in commands() if argv[0] == "memgym"]
    table = {shlex.join(shlex.split(k)): shlex.split(v) for k, v in COMMAND_BUDGETS.items()}
    assert sorted(readme) == sorted(table), "COMMAND_BUDGETS must list README's commands"
    parser = cli.build_parser()
    for command in readme:
        tiny = table[command]
        if "--help" in tiny:
            with pytest.raises(SystemExit) as exit_:
                cli.main(tiny[1:])
            assert exit_.value.code == 0 and HELP_SHOWS[command] in capsys.readouterr().out
            continue
        as_written = vars(parser.parse_args(shlex.split(command)[1:]))
        as_run = vars(parser.parse_args(tiny[1:]))
        changed = {
            k for k in as_written.keys() | as_run.keys() if as_written.get(k) != as_run.get(k)
        }
        assert changed <= BUDGET_OPTIONS, f"{command}: the tiny form also changes {changed}"
        try:
            cli.main(tiny[1:])
        except SystemExit as exit_:  # extract of a 40-step model: its check fails
            assert tiny[1] == "extract" and exit_.code == 1, command
        printed = capsys.readouterr().out
        assert printed, command
        if tiny[1] == "eval":
            assert "scan vs sequential" in printed
        if tiny[1] == "extract":
            assert "sampled check" in printed and (tmp_path / "runs/repeat/checkpoint").is_dir()


def test_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    used = [argv[1] for argv in commands() if argv[0] == "make"]
    assert used and set(used) <= targets


def test_pip_installs_name_extras_that_exist():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    specs = [argv[3] for argv in commands() if argv[:3] == ["pip", "install", "-e"]]
    assert specs, "README names no pip install"
    for spec in specs:
        match = re.fullmatch(r"\.(?:\[(\w+)\])?", spec)
        assert match, f"pip install -e {spec}: install from the clone's root"
        assert match[1] is None or match[1] in extras


class Parsed(Exception):
    """Raised in place of running a benchmark once its arguments parsed."""


def test_benchmark_commands_parse(monkeypatch):
    original = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        raise Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_only)
    scripts = [argv for argv in commands() if argv[0] == "python"]
    assert scripts
    for argv in scripts:
        script = ROOT / argv[1]
        monkeypatch.setattr(sys, "argv", [str(script), *argv[2:]])
        monkeypatch.syspath_prepend(str(script.parent))
        with pytest.raises(Parsed):
            runpy.run_path(str(script), run_name="__main__")


def test_every_bash_line_is_checked():
    kinds = {"memgym", "make", "python"}
    for argv in commands():
        assert argv[0] in kinds or argv[:3] == ["pip", "install", "-e"], argv


def test_the_base_id_defaults_are_the_code_s():
    import memgym

    for env_id in memgym.BASE_IDS:
        row = next(line for line in README.splitlines() if line.startswith(f"| `{env_id}`"))
        defaults = dict(re.findall(r"`(\w+)=([^`]+)`", row.split("|")[3]))
        task = env_id.removeprefix("memgym/").removesuffix("-v0")
        signature = inspect.signature(getattr(memgym, f"{task}Env"))
        wanted = {
            name: p.default for name, p in signature.parameters.items() if name != "render_mode"
        }
        assert {k: ast.literal_eval(v) for k, v in defaults.items()} == wanted, env_id
