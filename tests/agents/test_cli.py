"""The memgym command line: train, eval, extract, argument parsing."""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest

from agents.cli import main, parse_env_kwargs
from agents.extract import verify


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
    assert "sampled check" in capsys.readouterr().out and png.exists()


def test_train_hardens_after_the_first_perfect_eval(tmp_path, capsys):
    out = str(tmp_path / "hard")
    args = ["train", "memgym/RememberEasy-v0", "--batch-size", "32", "--out", out]
    main([*args, "--steps", "2000", "--harden-steps", "30", "--harden-noise", "4"])
    printed = capsys.readouterr().out
    assert "hardened from step" in printed and "100% held-out answers" in printed
    with pytest.raises(ValueError, match="harden_noise"):  # a resume must keep the settings
        main([*args, "--steps", "2000", "--harden-steps", "30", "--resume"])


def test_train_harden_start(tmp_path, capsys):
    args = ["train", "memgym/RememberEasy-v0", "--batch-size", "8", "--steps", "100"]
    main([*args, "--harden-start", "5", "--harden-steps", "3", "--out", str(tmp_path)])
    assert "hardened from step 5" in capsys.readouterr().out


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


def test_train_options_override_the_recipe_or_the_defaults():
    from agents.cli import build_parser, train_config
    from agents.recipes import recipe
    from agents.train import TrainConfig

    def config(*argv):
        return train_config(build_parser().parse_args(["train", *argv]))

    assert config("memgym/CountEasy-v0") == TrainConfig(env_id="memgym/CountEasy-v0")
    assert config("memgym/CountEasy-v0", "--recipe") == recipe("CountEasy")
    assert config("memgym/CountEasy-v0", "--recipe", "--seed", "3") == recipe("CountEasy", seed=3)
    # an option given with TrainConfig's default value still overrides the recipe's 0.03
    assert config("memgym/RememberMedium-v0", "--recipe", "--lr", "0.1").lr == 0.1
    assert config("memgym/CountEasy-v0", "--recipe", "--steps", "500").eval_interval == 2
    assert config("memgym/RememberMedium-v0", "--recipe", "--model", "gru").lr == 0.01
    assert config("memgym/CountEasy-v0", "--resample-interval", "50").resample_interval == 50
    assert not config("memgym/CountEasy-v0", "--resample-interval", "50").resample_successors
    assert config(
        "memgym/CountEasy-v0", "--resample-interval", "50", "--resample-successors"
    ).resample_successors
    assert config(
        "memgym/RepeatMedium-v0", "--resample-interval", "50", "--resample-delays"
    ).resample_delays
    assert config(
        "memgym/RememberHard-v0", "--resample-interval", "50", "--resample-latches"
    ).resample_latches
    assert config("memgym/CountEasy-v0", "--recipe", "--scan", "compiled").scan == "compiled"
    assert config(
        "memgym/CountEasy-v0", "--harden-prior", "0.1", "--prior-decoupled"
    ).prior_decoupled
    with pytest.raises(SystemExit, match="no recipe"):
        config("memgym/Remember-v0", "--recipe")


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
    assert f"DOT: {dot} (10 states" in printed and dot.read_text().startswith("digraph")

    def too_large(env_id, **kwargs):
        asked.append(kwargs)
        raise ValueError("more than 1,000,000 states")

    asked = []
    monkeypatch.setattr(memgym, "reference", too_large)
    main(["extract", str(tmp_path / "checkpoint"), "--prove-up-to", "1000"])
    printed = capsys.readouterr().out
    assert "no reference machine (more than 1,000,000 states): sampled check only" in printed
    assert asked == [{"num_cards": 4, "n_range": (4, 1000)}]
