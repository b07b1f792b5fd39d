"""The memgym command line: train, eval, extract, argument parsing."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys

import pytest

import agents.cli
from agents.cli import main, parse_env_kwargs, run_name
from agents.errors import UsageError
from agents.extract import verify
from agents.resample import MERGED, REENCODED
from agents.train import TrainConfig, TrainResult, train


def test_parse_env_kwargs():
    assert parse_env_kwargs(["num_cards=2", "n_range=[4, 8]", 'name="x"']) == {
        "num_cards": 2,
        "n_range": [4, 8],
        "name": "x",
    }
    with pytest.raises(UsageError, match="expects KEY=JSON"):
        parse_env_kwargs(["oops"])
    with pytest.raises(UsageError, match="the value must be JSON"):
        parse_env_kwargs(["name=x"])  # was taken as the string "x"


def test_train_eval_extract(tmp_path, capsys):
    out = tmp_path / "run"
    main(
        [
            "train",
            "memgym/RememberEasy-v0",
            "--steps",
            "20",
            "--batch-size",
            "16",
            "--out",
            str(out),
        ]
    )
    assert "checkpoint:" in capsys.readouterr().out
    main(["eval", str(out / "checkpoint"), "--episodes", "50"])
    report = capsys.readouterr().out
    assert "100x length" in report and "scan vs sequential" in report
    png = tmp_path / "a.png"
    with pytest.raises(SystemExit) as exit_:  # 20 steps: the automaton fails its check
        main(["extract", str(out / "checkpoint"), "--png", str(png)])
    assert exit_.value.code == 1
    assert "sampled check" in capsys.readouterr().out and png.exists()


@pytest.mark.slow
def test_train_hardens_and_stops_once_the_automaton_verifies(tmp_path, capsys):
    out = str(tmp_path / "hard")
    args = ["train", "memgym/RememberEasy-v0", "--batch-size", "32", "--out", out]
    main([*args, "--steps", "2000", "--harden-noise", "4", "--check-interval", "100"])
    printed = capsys.readouterr().out
    assert "hardened from step" in printed and "100% held-out answers" in printed
    assert "automaton proved equal to the reference machine for every act stream" in printed
    with pytest.raises(SystemExit):  # a resume must keep the settings
        main([*args, "--steps", "2000", "--check-interval", "100", "--resume"])
    assert "differs in ['harden_noise']" in capsys.readouterr().err


def test_train_on_a_random_machine_merges_states_and_proves(tmp_path, capsys):
    args = ["train", "memgym/Tomita-v0", "--env-kwarg", "grammar=6", "--env-kwarg"]
    args += ["n_range=[2,10]", "--batch-size", "8", "--steps", "100", "--harden-start", "5"]
    main([*args, "--check-interval", "20", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "no held-out eval (the first is at step 50)" in printed  # it stopped before one
    assert "rewritten at step 25 as the 5-state Moore machine RPNI's state" in printed
    assert "automaton proved equal to the reference machine for every act stream" in printed

    # with evals before the check: the last one was before the rewriting that was proved
    evals = ["--eval-interval", "10", "--eval-episodes", "64", "--out", str(tmp_path / "evals")]
    main([*args, "--check-interval", "20", *evals])
    printed = capsys.readouterr().out
    assert "% at the last eval, step 20 (never 100%; the check at step 25 is below)" in printed


def test_train_reports_a_reencoding_then_a_merge_in_one_check(tmp_path, capsys, monkeypatch):
    def done(output, bits):
        return [{"step": 25, "output": output, "token": 0, "source": 1, "bit": b} for b in bits]

    rewired = done(3, [7]) + done(REENCODED, range(2)) + done(MERGED, range(5))

    def fake_train(config, out_dir=None, resume=False, progress=True):
        return TrainResult(step=25, loss=[1.0] * 25, harden_from=5, resamples=rewired)

    monkeypatch.setattr(agents.cli, "train", fake_train)
    main(["train", "memgym/Tomita6-v0", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "rewired 1 dormant state bit (agents.resample)" in printed
    assert "re-encoded at step 25 as its automaton's minimal machine, 2 states" in printed
    assert "rewritten at step 25 then as the 5-state Moore machine RPNI's state" in printed


def test_an_out_of_memory_error_without_a_message_is_one_line_too(monkeypatch, capsys):
    def no_memory(args):
        raise MemoryError

    monkeypatch.setattr(agents.cli, "cmd_train", no_memory)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "memgym/RememberEasy-v0"])
    assert exit_.value.code == 2
    assert "error: out of memory (MemoryError); " in capsys.readouterr().err


def test_train_counts_one_step_in_the_singular(tmp_path, capsys):
    main(["train", "memgym/RememberEasy-v0", "--steps", "1", "--out", str(tmp_path)])
    assert "; trained 1 step in " in capsys.readouterr().out


def test_train_harden_start(tmp_path, capsys):
    args = ["train", "memgym/RememberEasy-v0", "--batch-size", "8", "--steps", "20"]
    main([*args, "--harden-start", "5", "--check-interval", "100", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "hardened from step 5" in printed and "not verified within 20 steps" in printed


def test_train_with_env_kwargs_and_baseline(tmp_path, capsys):
    out = tmp_path / "gru"
    args = ["train", "memgym/Remember-v0", "--env-kwarg", "num_cards=2", "--env-kwarg"]
    main([*args, "n_range=[2,4]", "--model", "gru", "--steps", "5", "--out", str(out)])
    assert "checkpoint:" in capsys.readouterr().out
    main(["eval", str(out / "checkpoint"), "--episodes", "20"])
    printed = capsys.readouterr().out
    assert "100x length" in printed
    assert printed.startswith('memgym/Remember-v0 {"num_cards": 2, "n_range": [2, 4]} (gru')
    with pytest.raises(SystemExit):
        main(["extract", str(out / "checkpoint")])
    assert "extract needs a boolean RNN checkpoint, got a gru one" in capsys.readouterr().err


def test_the_top_level_names_the_commands_the_closest_one_and_the_version(capsys):
    assert "required: {train,eval,extract,demo}" in cli_error(capsys, [])
    assert "invalid choice: 'trian'" in cli_error(capsys, ["trian"])
    assert "did you mean train?" in cli_error(capsys, ["trian", "memgym/RememberEasy-v0"])
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("memgym 0.")


def test_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in done.stdout and "train" in done.stdout


def test_every_config_field_is_an_option_and_overrides_the_default():
    from dataclasses import fields

    from agents.cli import build_parser, train_config
    from agents.train import TrainConfig

    def config(*argv):
        return train_config(build_parser().parse_args(["train", *argv]))

    assert config("memgym/CountEasy-v0") == TrainConfig(env_id="memgym/CountEasy-v0")
    assert config("memgym/CountEasy-v0", "--seed", "3", "--lr", "0.05") == TrainConfig(
        env_id="memgym/CountEasy-v0", seed=3, lr=0.05
    )
    assert config("memgym/CountEasy-v0", "--state-dim", "24").state_dim == 24
    assert config("memgym/CountEasy-v0", "--scan", "compiled").scan == "compiled"
    assert config("memgym/Repeat-v0", "--env-kwarg", "lag=1").env_kwargs == {"lag": 1}
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for f in fields(TrainConfig):
        if f.name not in ("env_id", "env_kwargs"):
            assert "--" + f.name.replace("_", "-") in help_text and f.metadata["help"]
    with pytest.raises(SystemExit):
        config("memgym/CountEasy-v0", "--recipe")  # gone: the defaults are the learner


def test_extract_prove_and_dot(tmp_path, monkeypatch, capsys):
    from handbuilt import remember_model
    from references import core_reference

    import memgym
    from agents.checkpoint import save_checkpoint
    from memgym import RememberCore

    monkeypatch.setattr("agents.cli.verify", functools.partial(verify, random_episodes=1000))
    config = {"env_id": "memgym/RememberEasy-v0", "env_kwargs": {}}
    save_checkpoint(tmp_path / "checkpoint", remember_model(4), "boolean", config)
    monkeypatch.setattr(
        memgym, "reference", lambda env_id, **kwargs: core_reference(RememberCore(4))
    )
    dot = tmp_path / "a.dot"
    main(["extract", str(tmp_path / "checkpoint"), "--prove", "--dot", str(dot)])
    printed = capsys.readouterr().out
    assert (
        "every episode, n = 4..16" in printed and "1,000 random episodes at 10x length" in printed
    )
    assert (
        "proved equal to the reference machine for every act stream (9 product states)" in printed
    )
    # the 10-state machine less the sink of invalid tokens, which the drawing leaves out
    assert f"DOT: {dot} (9 states" in printed and dot.read_text().startswith("digraph")
    assert len(re.findall(r"^  s\d+ \[", dot.read_text(), flags=re.M)) == 9

    def too_large(env_id, **kwargs):
        asked.append(kwargs)
        raise ValueError("more than 1,000,000 states")

    asked = []
    monkeypatch.setattr(memgym, "reference", too_large)
    main(["extract", str(tmp_path / "checkpoint"), "--prove"])
    printed = capsys.readouterr().out
    assert "no reference machine (more than 1,000,000 states): sampled check only" in printed
    assert asked == [{"every_length": True}]


def cli_error(capsys, argv: list[str]) -> str:
    """The one line ``memgym ARGV`` prints on stderr as it exits with code 2."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def popgym_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "pop"
    config = TrainConfig(env_id="memgym/POPGym-RepeatPreviousEasy-v0", steps=2, batch_size=4)
    train(config, out_dir=out, progress=False)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    train(TrainConfig(steps=4, batch_size=8), out_dir=out, progress=False)
    return out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "CKPT", "--episodes", "0"], "argument --episodes: must be at least 1, got 0"),
        (["eval", "CKPT", "--episodes", "-5"], "argument --episodes: must be at least 1, got -5"),
        (["eval", "CKPT", "--device", "cuda:99"], "device 'cuda:99' is not available"),
        (["eval", "CKPT", "--device", "gpu"], "unknown device 'gpu'; this machine has cpu"),
        (["extract", "CKPT", "--device", "cuda:99"], "device 'cuda:99' is not available"),
        (["eval", "RUN"], "is not a checkpoint folder; it is a run folder: pass RUN/checkpoint"),
        (["extract", "RUN"], "it is a run folder: pass RUN/checkpoint"),
        (["eval", "RUN/nowhere"], "RUN/nowhere does not exist (a checkpoint is the checkpoint/"),
        (["train", "memgym/RememberEasy-v0", "--steps", "0"], "--steps: must be at least 1, got 0"),
        (
            ["train", "memgym/RememberEasy-v0", "--state-dim", "1"],
            "--state-dim: must be at least 2",
        ),
        (["train", "memgym/RememberEasy-v0", "--batch-size", "x"], "expected an integer, got 'x'"),
        (["train", "memgym/RememberEasy-v0", "--lr", "0"], "argument --lr: must be above 0"),
        (["train", "memgym/RememberEasy-v0", "--seed", "-1"], "--seed: must be at least 0"),
        (["--threads", "0", "eval", "CKPT"], "argument --threads: must be at least 1"),
        (["train", "memgym/RememberEasy-v0", "--device", "cuda:99"], "'cuda:99' is not available"),
        (
            ["train", "memgym/RememberEasy-v0", "--scan", "fused"],
            "scan method 'fused' needs a CUDA tensor, got one on cpu; on cpu choose one of auto",
        ),
        (
            ["train", "memgym/Remember-v0", "--env-kwarg", "cards=3"],
            "unexpected keyword argument 'cards' (it takes num_cards=16, n_range=[16, 64]",
        ),
        (
            ["train", "memgym/Remember-v0", "--env-kwarg", "num_cards=2.5"],
            "num_cards=2.5: num_cards must be an integer scalar, got a float: 2.5",
        ),
        (["train", "memgym/Remember-v0", "--env-kwarg", "num_cards=abc"], "must be JSON, e.g."),
        (["train", "memgym/Remember-v0", "--env-kwarg", "n_range=[4,8"], "must be JSON"),
        (["train", "memgym/Remember-v0", "--env-kwarg", "num_cards"], "expects KEY=JSON"),
        (["train", "memgym/Nope-v0"], "env 'memgym/Nope-v0': Environment `Nope` doesn't exist"),
        (["train", "CountEasy"], "doesn't exist. Did you mean memgym/CountEasy-v0?"),
        (["train", "memgym/CountEsy-v0"], "Did you mean memgym/CountEasy-v0 or"),
        (
            ["train", "memgym/CountEasy-v0", "--step", "5"],
            "unrecognized arguments: --step 5; did you mean --steps?",
        ),
        (
            ["train", "memgym/CountEsy-v0"],
            "doesn't exist in namespace memgym. Did you mean memgym/CountEasy-v0",
        ),
        (
            ["train", "memgym/RememberEasy-v0", "--out", "RUN/checkpoint/config.json"],
            "--out RUN/checkpoint/config.json: cannot make the run folder (File exists)",
        ),
        (
            ["extract", "CKPT", "--dot", "RUN/checkpoint/config.json/a.dot"],
            "--dot RUN/checkpoint/config.json/a.dot: cannot make its folder",
        ),
        (["extract", "CKPT", "--dot", "RUN"], "--dot RUN: is a folder; name a file in it"),
        (
            ["extract", "CKPT", "--png", "RUN/checkpoint/config.json/a.png"],
            "--png RUN/checkpoint/config.json/a.png: cannot make its folder",
        ),
        (
            ["train", "memgym/Repeat-v0", "--env-kwarg", "lag=2", "--env-kwarg", "lag=3"],
            "--env-kwarg lag is given twice; give each key once",
        ),
        (["train", "memgym/RememberEasy-v0", "--model", "lsmt"], "did you mean lstm?"),
        (["train", "CartPole-v1"], "env CartPole-v1 gives no supervised rollouts: "),
        (["train", "FrozenLake-v1"], "gives no supervised rollouts: "),
        (["train", "memgym/RememberEasy-v0", "--threads", "0"], "--threads: must be at least 1"),
        (["train", "memgym/RememberEasy-v0", "--threads", "100000"], "--threads: must be at most"),
        (["train", "memgym/RememberEasy-v0", "--resample-episodes", "0"], "must be at least 1"),
        (["eval", "POP"], "eval needs a memgym task"),
        (["extract", "POP", "--prove"], "extract needs a memgym task"),
        (
            ["train", "memgym/RepeatEasy-v0", "--steps", "3000", "--harden-steps", "15000"],
            "unrecognized arguments: --harden-steps 15000",
        ),
        (["train", "memgym/CountEasy-v0", "--harden-start", "-1"], "--harden-start: must be at"),
        (["train", "memgym/CountEasy-v0", "--check-interval", "0"], "--check-interval: must be"),
        (["train", "memgym/RememberEasy-v0", "--out", "RUN"], "RUN already holds a run"),
        (["train", "memgym/RememberEasy-v0", "--out", "RUN/x", "--resume"], "no run to resume"),
        (["train", "memgym/RememberEasy-v0", "--resume", "--force"], "--force trains over it"),
        (["demo", "memgym/CountMedium-v0"], "demo presets are memgym/RememberEasy-v0"),
        (["extract", "CKPT", "--png", "RUN/a.svgz"], "--png must name a .png file, got"),
        (
            ["train", "memgym/RememberEasy-v0", "--out", "RUN/checkpoint/config.json/x"],
            "cannot make the run folder (Not a directory)",
        ),
        (["demo", "--out", "RUN"], "RUN already holds a run (RUN/checkpoint); pass --force to"),
        (["train", "memgym/RememberEasy-v0", "--steps", "1" + "0" * 20], "--steps: must be below"),
        (["train", "memgym/RememberEasy-v0", "--lr", "inf"], "--lr: must be below 2**63, got inf"),
        (["train", "memgym/RememberEasy-v0", "--out", ""], "--out: expected a folder's path"),
        (["demo", "--out", " "], "--out: expected a folder's path, got an empty one"),
        (["train", "memgym/RememberEasy-v0", "--model", "gru", "--scan", "blelloch"], "a gru has"),
        (
            ["train", "memgym/RememberEasy-v0", "--state-dim", "1000000", "--out", "RUN/big"],
            "out of memory (",
        ),
        (["train", "memgym/RememberEasy-v0", "--out", "RUN"], "; pass --resume to go on with"),
    ],
)
def test_every_cli_error_is_one_line_with_exit_code_2(capsys, run_dir, popgym_run, argv, message):
    # before: tracebacks (ZeroDivisionError, FileNotFoundError, AssertionError of torch.cuda,
    # TypeError of the env), "-0.00% of -5 answers", fresh starts and silent overwrites
    argv = [a.replace("CKPT", "RUN/checkpoint").replace("RUN", str(run_dir)) for a in argv]
    argv = [a.replace("POP", str(popgym_run / "checkpoint")) for a in argv]
    err = cli_error(capsys, argv)
    command = "" if argv[0].startswith("-") else f" {argv[0]}"  # --threads: memgym's own
    assert err.startswith(f"memgym{command}: error: ")
    assert message.replace("RUN", str(run_dir)) in err


def test_corrupt_and_foreign_checkpoints_are_one_line_errors(capsys, run_dir, tmp_path):
    other = tmp_path / "other"
    train(TrainConfig(steps=2, state_dim=8), out_dir=other, progress=False)
    broken = tmp_path / "broken" / "checkpoint"
    shutil.copytree(run_dir / "checkpoint", broken)
    weights = broken / "model.safetensors"
    shutil.copy(other / "checkpoint" / "model.safetensors", weights)
    assert "(another run's weights?): A (7, 8, 8)" in cli_error(capsys, ["eval", str(broken)])
    weights.write_bytes(weights.read_bytes()[:-10])
    assert f"{weights} is corrupt" in cli_error(capsys, ["eval", str(broken)])
    weights.write_text("overwritten")
    assert f"{weights} is corrupt" in cli_error(capsys, ["extract", str(broken)])


def test_force_trains_over_a_run(capsys, tmp_path):
    args = ["train", "memgym/RememberEasy-v0", "--steps", "2", "--out", str(tmp_path)]
    main(args)
    main([*args, "--force"])
    assert "trained 2 steps" in capsys.readouterr().out


def test_the_default_run_folder_tells_env_kwargs_apart():
    plain = TrainConfig(env_id="memgym/Remember-v0")
    two = TrainConfig(env_id="memgym/Remember-v0", env_kwargs={"num_cards": 2})
    three = TrainConfig(env_id="memgym/Remember-v0", env_kwargs={"num_cards": 3})
    assert run_name(plain) == "runs/Remember-boolean-s0"
    assert run_name(two).startswith("runs/Remember-boolean-s0-k")
    assert len({run_name(plain), run_name(two), run_name(three)}) == 3


def test_console_errors_have_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "eval", str(tmp_path), "--episodes", "3"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == f"memgym eval: error: {tmp_path} is not a checkpoint folder " + (
        "(a checkpoint is the checkpoint/ folder of a run, holding config.json)\n"
    )
