"""The memgym command line: train, eval, extract, argument parsing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents.cli import main, parse_env_kwargs


def test_parse_env_kwargs():
    assert parse_env_kwargs(["num_cards=2", "n_range=[4, 8]", "name=x"]) == {
        "num_cards": 2,
        "n_range": [4, 8],
        "name": "x",
    }
    with pytest.raises(SystemExit):
        parse_env_kwargs(["oops"])


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
    main(["extract", str(out / "checkpoint"), "--png", str(png)])
    assert "verified" in capsys.readouterr().out and png.exists()


@pytest.mark.slow
def test_train_hardens_and_stops_once_the_automaton_verifies(tmp_path, capsys):
    out = str(tmp_path / "hard")
    args = ["train", "memgym/RememberEasy-v0", "--batch-size", "32", "--out", out]
    main([*args, "--steps", "2000", "--harden-noise", "4", "--check-interval", "100"])
    printed = capsys.readouterr().out
    assert "hardened from step" in printed and "100% held-out answers" in printed
    assert "automaton verified at step" in printed
    with pytest.raises(ValueError, match="harden_noise"):  # a resume must keep the settings
        main([*args, "--steps", "2000", "--check-interval", "100", "--resume"])


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
    assert "100x length" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="boolean"):
        main(["extract", str(out / "checkpoint")])


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
