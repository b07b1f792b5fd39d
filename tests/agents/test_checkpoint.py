"""Checkpoints: bit-for-bit round trip, atomic writes, exact resume."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from agents.checkpoint import (
    CHECKPOINT_DIR,
    MODEL_FILE,
    TRAINING_FILE,
    load_checkpoint,
    save_checkpoint,
)
from agents.cli import main
from agents.errors import CheckpointError, UsageError
from agents.train import TrainConfig, train
from memgym import batch_rollouts

torch.set_num_threads(1)  # these models are tiny: one thread is fastest

CONFIG = TrainConfig(
    steps=12, batch_size=16, eval_interval=4, eval_episodes=64, checkpoint_interval=4
)


@pytest.mark.parametrize("kind", ["boolean", "lstm"])
def test_round_trip_is_bit_for_bit(tmp_path, kind):
    result = train(dataclasses.replace(CONFIG, model=kind), out_dir=tmp_path, progress=False)
    model, meta = load_checkpoint(tmp_path / CHECKPOINT_DIR)
    saved = result.model.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert meta["model_kind"] == kind and meta["env_id"] == CONFIG.env_id
    assert meta["num_act_tokens"] == 7 and meta["num_obs_tokens"] == 6
    assert meta["train_config"]["steps"] == 12 and meta["state"]["step"] == 12
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != CHECKPOINT_DIR]
    assert leftovers == []  # no temporary directories left behind


def test_save_replaces_an_existing_checkpoint(tmp_path):
    model = train(CONFIG, progress=False).model
    path = tmp_path / "ckpt"
    save_checkpoint(path, model, "boolean", dataclasses.asdict(CONFIG))
    with torch.no_grad():
        model.A.add_(1.0)
    save_checkpoint(path, model, "boolean", dataclasses.asdict(CONFIG))
    assert torch.equal(load_checkpoint(path)[0].A, model.A)


def test_resume_gives_the_uninterrupted_run(tmp_path):
    whole = train(CONFIG, out_dir=tmp_path / "whole", progress=False)
    train(dataclasses.replace(CONFIG, steps=8), out_dir=tmp_path / "split", progress=False)
    resumed = train(CONFIG, out_dir=tmp_path / "split", resume=True, progress=False)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value)
    assert resumed.loss == whole.loss and resumed.eval_accuracy == whole.eval_accuracy


def test_resume_refuses_a_different_run(tmp_path):
    train(CONFIG, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="lr"):
        train(dataclasses.replace(CONFIG, lr=0.5), out_dir=tmp_path, resume=True, progress=False)


def test_resume_may_change_the_scan_method(tmp_path):
    train(dataclasses.replace(CONFIG, steps=8), out_dir=tmp_path, progress=False)
    config = dataclasses.replace(CONFIG, scan="blelloch")
    resumed = train(config, out_dir=tmp_path, resume=True, progress=False)
    assert resumed.model.scan == "blelloch" and len(resumed.loss) == 12


def test_a_setting_added_after_the_checkpoint_counts_as_its_default(tmp_path):
    train(dataclasses.replace(CONFIG, steps=8), out_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT_DIR / "config.json"
    meta = json.loads(path.read_text())
    del meta["train_config"]["check_interval"]  # as written before the setting existed
    path.write_text(json.dumps(meta))
    resumed = train(CONFIG, out_dir=tmp_path, resume=True, progress=False)
    assert len(resumed.loss) == 12
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="check_interval"):
        train(
            dataclasses.replace(CONFIG, check_interval=4),
            out_dir=tmp_path,
            resume=True,
            progress=False,
        )


def test_a_checkpoint_with_a_setting_that_is_gone_loads_but_does_not_resume(tmp_path):
    train(dataclasses.replace(CONFIG, steps=8), out_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT_DIR / "config.json"
    meta = json.loads(path.read_text())
    meta["train_config"]["resample_latches"] = True  # a setting of an older learner
    path.write_text(json.dumps(meta))
    model, _ = load_checkpoint(tmp_path / CHECKPOINT_DIR)
    assert model.state_dim == 16  # RememberEasy: twice its 8 hand-built bits
    with pytest.raises(ValueError, match=r"its run differs in \['resample_latches'\]"):
        train(CONFIG, out_dir=tmp_path, resume=True, progress=False)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="is not a checkpoint folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "weights.bin").write_bytes(b"\x00")
    with pytest.raises(CheckpointError, match=r"weights\.bin is a file, not a checkpoint folder"):
        load_checkpoint(tmp_path / "weights.bin")


def test_a_run_folder_points_at_its_checkpoint_subfolder(tmp_path):
    train(dataclasses.replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    with pytest.raises(
        CheckpointError, match=f"it is a run folder: pass {tmp_path / CHECKPOINT_DIR}"
    ):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("file", [MODEL_FILE, TRAINING_FILE])
@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_corrupt_safetensors_file_is_named(tmp_path, file, damage):
    train(dataclasses.replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT_DIR / file
    data = path.read_bytes()
    path.write_bytes(data[:-10] if damage == "truncated" else b"not a tensor file\n")
    with pytest.raises(CheckpointError, match=f"{path} is corrupt"):
        if file == MODEL_FILE:
            load_checkpoint(tmp_path / CHECKPOINT_DIR)
        else:
            train(
                dataclasses.replace(CONFIG, steps=8), out_dir=tmp_path, resume=True, progress=False
            )


def test_a_corrupt_config_is_named(tmp_path):
    train(dataclasses.replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT_DIR / "config.json"
    path.write_text("{")
    with pytest.raises(CheckpointError, match=f"{path} is corrupt"):
        load_checkpoint(path.parent)
    path.write_text("{}")
    with pytest.raises(CheckpointError, match="lacks model_kind, model_config"):
        load_checkpoint(path.parent)


def test_weights_of_another_run_are_refused(tmp_path):
    train(dataclasses.replace(CONFIG, steps=4), out_dir=tmp_path / "a", progress=False)
    other = dataclasses.replace(CONFIG, steps=4, state_dim=8)
    train(other, out_dir=tmp_path / "b", progress=False)
    ours = tmp_path / "a" / CHECKPOINT_DIR
    (ours / MODEL_FILE).write_bytes((tmp_path / "b" / CHECKPOINT_DIR / MODEL_FILE).read_bytes())
    with pytest.raises(CheckpointError, match=r"another run's weights\?\): A \(7, 8, 8\)"):
        load_checkpoint(ours)
    with pytest.raises(CheckpointError, match="does not hold the weights"):
        train(
            dataclasses.replace(CONFIG, steps=8),
            out_dir=tmp_path / "a",
            resume=True,
            progress=False,
        )


def test_resume_without_a_checkpoint_refuses(tmp_path):
    with pytest.raises(CheckpointError, match="cannot resume: there is no checkpoint"):
        train(CONFIG, out_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="cannot resume"):
        train(CONFIG, resume=True, progress=False)


def fused_checkpoint(tmp_path):
    """A checkpoint as a CUDA run with ``--scan fused`` writes it."""
    config = dataclasses.replace(CONFIG, steps=4)
    train(config, out_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT_DIR / "config.json"
    meta = json.loads(path.read_text())
    meta["model_config"]["scan"] = meta["train_config"]["scan"] = "fused"
    meta["train_config"]["device"] = "cuda"
    path.write_text(json.dumps(meta))
    return path.parent


def test_a_fused_checkpoint_loads_and_runs_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    path = fused_checkpoint(tmp_path)
    model, meta = load_checkpoint(path)  # raised "scan method 'fused' needs a CUDA tensor"
    assert model.scan == "auto" and meta["model_config"]["scan"] == "fused"
    act = torch.as_tensor(batch_rollouts(CONFIG.env_id, 8, seed=0).act)
    expected = model(act)
    model.scan = "fused"  # a model built with it runs on the CPU too: auto runs instead
    assert torch.equal(model(act), expected)
    chosen, _ = load_checkpoint(path, scan="sequential")
    assert chosen.scan == "sequential" and torch.equal(chosen(act), expected)
    with pytest.raises(UsageError, match=r"'fused' needs a CUDA tensor, got one on cpu; on cpu"):
        load_checkpoint(path, scan="fused")
    with pytest.raises(UsageError, match="device 'cuda' is not available on this machine"):
        load_checkpoint(path, device="cuda" if not torch.cuda.is_available() else "cuda:99")


def test_a_fused_checkpoint_evaluates_and_resumes_on_the_cpu(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr("agents.evaluate.SCAN_GAP_BYTES", 1 << 20)  # a small scan-gap sample
    path = fused_checkpoint(tmp_path)
    main(["eval", str(path), "--episodes", "10"])
    assert "scan auto, cpu)" in capsys.readouterr().out
    main(["eval", str(path), "--episodes", "10", "--scan", "sequential", "--device", "cpu"])
    assert "scan sequential, cpu)" in capsys.readouterr().out
    resumed = train(CONFIG, out_dir=tmp_path, resume=True, progress=False)  # scan is free
    assert len(resumed.loss) == CONFIG.steps


def test_recurrent_ppo_loads_a_fused_policy_on_the_cpu(tmp_path, monkeypatch):
    sb3_contrib = pytest.importorskip("sb3_contrib")
    import gymnasium as gym

    from agents.sb3 import BooleanRecurrentPolicy

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    env = gym.make("memgym/RememberEasy-v0")
    model = sb3_contrib.RecurrentPPO(
        BooleanRecurrentPolicy, env, n_steps=8, batch_size=8, policy_kwargs={"scan": "fused"}
    )
    model.save(tmp_path / "ppo")
    loaded = sb3_contrib.RecurrentPPO.load(tmp_path / "ppo", env=env, device="cpu")
    obs, _ = env.reset(seed=0)
    action, _ = loaded.predict(obs, episode_start=np.ones(1, dtype=bool))
    assert env.action_space.contains(int(action))
    loaded.learn(8)  # training on the CPU runs the scan the device allows
