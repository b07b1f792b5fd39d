"""The training loop: losses, reproducibility, the curriculum and a small end-to-end run."""

from __future__ import annotations

import math

import pytest
import torch

from agents.train import (
    TrainConfig,
    curriculum_kwargs,
    first_error_loss,
    first_error_sign_loss,
    make_model,
    masked_ce_loss,
    misses,
    train,
)

torch.set_num_threads(1)  # these models are tiny: one thread is fastest


def _logits(rows: list[list[int]], vocab: int = 3) -> torch.Tensor:
    """Logits whose boolean readout names exactly ``rows[b][t]`` (+5 there, -5 elsewhere)."""
    out = torch.full((len(rows), len(rows[0]), vocab), -5.0)
    for b, row in enumerate(rows):
        for t, token in enumerate(row):
            out[b, t, token] = 5.0
    return out


def test_first_error_loss_takes_only_the_first_mistake():
    target = torch.tensor([[0, 1, 2, 0], [0, 1, 2, 0]])
    mask = torch.tensor([[True, True, True, False], [True] * 4])
    logits = _logits([[0, 2, 1, 1], [0, 1, 2, 0]])  # row 0 wrong at t=1 and t=2; row 1 right
    ce = torch.nn.functional.cross_entropy(logits[0, 1], target[0, 1])
    assert first_error_loss(logits, target, mask) == pytest.approx(ce.item() / 2)
    assert first_error_loss(_logits(target.tolist()), target, mask) == 0.0


def test_boolean_miss_needs_a_single_true_output():
    target = torch.tensor([[1, 1]])
    logits = torch.tensor([[[1.0, 3.0, -2.0], [-1.0, 3.0, -2.0]]])  # t=0: two outputs true
    assert misses(logits, target).tolist() == [[True, False]]
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert first_error_loss(logits, target, mask) == 0  # argmax is right everywhere
    assert first_error_loss(logits, target, mask, misses(logits, target)) > 0


def test_sign_loss_sees_misses_that_cross_entropy_hardly_sees():
    target = torch.tensor([[1]])
    mask = torch.ones(1, 1, dtype=torch.bool)
    logits = torch.tensor([[[20.0, 30.0, -5.0]]])  # argmax right, but two outputs true
    wrong = misses(logits, target)
    assert first_error_loss(logits, target, mask, wrong) < 1e-4
    assert first_error_sign_loss(logits, target, mask, wrong) > 19.0
    assert first_error_sign_loss(_logits([[1]]), target, mask, misses(_logits([[1]]), target)) == 0


def test_shift_init_seeds_the_cyclic_shift():
    config = TrainConfig(env_id="memgym/CountEasy-v0", state_dim=8, init_shift=16.0)
    torch.manual_seed(0)
    shifted = make_model(config).A.detach()
    torch.manual_seed(0)
    plain = make_model(TrainConfig(env_id="memgym/CountEasy-v0", state_dim=8)).A.detach()
    rows = torch.arange(8)
    delta = shifted - plain
    assert torch.allclose(delta[:, (rows + 1) % 8, rows], torch.full((len(delta), 8), 16.0))
    delta[:, (rows + 1) % 8, rows] = 0
    assert delta.abs().max() == 0


def test_masked_ce_ignores_padding():
    target = torch.tensor([[0, 1]])
    logits = _logits([[0, 2]])
    mask = torch.tensor([[True, False]])
    expected = torch.nn.functional.cross_entropy(logits[0, :1], target[0, :1])
    assert masked_ce_loss(logits, target, mask) == pytest.approx(expected.item())


def test_curriculum_widens_to_the_preset_range():
    config = TrainConfig(env_id="memgym/RepeatEasy-v0", curriculum_steps=100)
    assert curriculum_kwargs(config, 0)["n_range"] == (4, 4)
    assert curriculum_kwargs(config, 49)["n_range"] == (4, 10)
    assert curriculum_kwargs(config, 500)["n_range"] == (4, 16)
    assert curriculum_kwargs(TrainConfig(), 0) == {}


def test_same_seed_same_weights():
    config = TrainConfig(steps=15, batch_size=16, eval_interval=5, eval_episodes=64)
    first = train(config, progress=False).model.state_dict()
    second = train(config, progress=False).model.state_dict()
    other = train(TrainConfig(**{**config.__dict__, "seed": 1}), progress=False).model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["A"], other["A"])


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="mse")
    with pytest.raises(ValueError, match="model"):
        TrainConfig(model="transformer")


def test_small_run_reaches_100_percent():
    config = TrainConfig(
        steps=1000, batch_size=32, eval_interval=20, eval_episodes=200, stop_after_perfect=3
    )
    result = train(config, progress=False)
    assert result.steps_to_perfect is not None and result.steps_to_perfect <= 1000
    assert result.eval_accuracy[-1] == 1.0
    assert len(result.loss) == len(result.accuracy) and all(map(math.isfinite, result.loss))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_baselines_train_in_the_same_loop(kind):
    config = TrainConfig(model=kind, steps=10, batch_size=16, eval_interval=5, eval_episodes=64)
    result = train(config, progress=False)
    assert result.eval_steps == [5, 10] and len(result.loss) == 10
