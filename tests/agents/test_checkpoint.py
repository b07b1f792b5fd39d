"""Checkpoints: bit-for-bit round trip, atomic writes, exact resume."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from agents.checkpoint import CHECKPOINT_DIR, load_checkpoint, save_checkpoint
from agents.train import TrainConfig, train

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
    with pytest.raises(ValueError, match="lr"):
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
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
