"""benchmarks/rl.py: one run is a plain function returning its record; the report's tables."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import rl


def test_one_run_returns_and_keeps_its_record(tmp_path, monkeypatch):
    monkeypatch.setattr(rl, "N_ENVS", 2)
    monkeypatch.setattr(rl, "PPO_KWARGS", dict(n_steps=64, batch_size=64, n_epochs=1))
    record = rl.run("RepeatPreviousEasy", "ppo_mlp", 0, 256, tmp_path, evals=1, eval_episodes=2)
    assert record["env"] == "RepeatPreviousEasy" and record["algo"] == "ppo_mlp"
    assert record["env_steps"] >= 256 and record["steps_per_second"] > 0
    assert -1 <= record["mean_return"] <= record["mmer"] <= 1
    assert 0 <= record["success"] <= 1
    assert rl.run("RepeatPreviousEasy", "ppo_mlp", 0, 256, tmp_path) == record  # kept, not rerun
    with pytest.raises(ValueError, match="memgym rollouts"):
        rl.run("CountRecallEasy", "predictor", 0, 256, tmp_path)
    with pytest.raises(ValueError, match="unknown env"):
        rl.gym_id("CartPole")


def test_longest_episodes_of_memgym_and_popgym_envs():
    assert rl.max_length("RememberMedium") == 65
    assert rl.max_length("RepeatPreviousMedium") == 104


def record(env, algo, seed, speed, command="c"):
    curve = [dict(env_steps=100, seconds=1.0, mean_return=0.5, success=0.5)]
    return dict(
        env=env, algo=algo, seed=seed, command=command, budget=100, mmer=0.5, mean_return=0.5,
        success=0.5, steps_to_target=None, steps_per_second=speed, seconds=1.0, curve=curve,
    )  # fmt: skip


def test_speed_ratios_pair_runs_of_one_command_and_seed():
    runs = [
        record("CountEasy", "rppo_boolean", 0, 600.0),
        record("CountEasy", "rppo_lstm", 0, 100.0),
        record("CountEasy", "rppo_gru", 0, 200.0),
        record("CountEasy", "rppo_lstm", 1, 1.0, command="other"),
    ]
    table = rl.speed_ratios(runs)
    assert "| CountEasy | 1 | 6.0× | 3.0× |" in table
    assert "| CountEasy | rppo_lstm | 2 | 100 | 0.500 |" in rl.summary_table(runs)
