"""The training loop: losses, reproducibility, the curriculum and a small end-to-end run."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

import agents.train
from agents.ops import bound_parameter
from agents.resample import Resample
from agents.train import (
    TrainConfig,
    curriculum_kwargs,
    decoupled_prior_step,
    first_error_loss,
    first_error_sign_loss,
    keep_prior,
    make_model,
    masked_ce_loss,
    misses,
    train,
)
from memgym import batch_rollouts

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


def test_keep_prior_is_zero_only_for_keep_every_bit_with_margin():
    model = make_model(TrainConfig(state_dim=8))
    margin = math.log(8) + 2
    with torch.no_grad():
        model.A.copy_(torch.full_like(model.A, -3 * margin) + 6 * margin * torch.eye(8))
    assert keep_prior(model) == 0
    with torch.no_grad():
        model.A[0, 1, 2] = 0.0  # an off-diagonal entry at 0: costs about the margin
        model.A[2, 3, 3] = margin - 1  # a diagonal entry short of the margin
    short = margin - bound_parameter(torch.tensor(margin - 1)).item()  # about 1
    assert keep_prior(model).item() == pytest.approx(margin + short, rel=1e-5)


def test_the_decoupled_prior_step_moves_a_by_rate_times_the_priors_gradient():
    model = make_model(TrainConfig(state_dim=8)).double()
    A = model.A.detach().clone()
    sign = 2 * torch.eye(8, dtype=torch.float64) - 1
    active = (math.log(8) + 2 - sign * bound_parameter(A)) > 0  # where the prior's relu is on
    leaf = A.clone().requires_grad_()
    (slope,) = torch.autograd.grad(bound_parameter(leaf).sum(), leaf)  # the bound's derivative
    expected = A + 0.01 * torch.where(active, sign * slope, 0.0)
    decoupled_prior_step(model, 0.01)
    assert torch.allclose(model.A.detach(), expected, rtol=0, atol=1e-12)
    assert model.A.grad is None  # no gradient left behind for the optimizer


def test_a_decoupled_prior_is_applied_after_each_hardening_step_only(monkeypatch):
    rates = []
    monkeypatch.setattr(agents.train, "decoupled_prior_step", lambda m, rate: rates.append(rate))
    config = dataclasses.replace(
        HARDEN, steps=50, harden_start=30, harden_steps=20, harden_prior=0.5, lr=0.2
    )
    coupled = train(config, progress=False)
    assert rates == []
    decoupled = train(dataclasses.replace(config, prior_decoupled=True), progress=False)
    assert rates == [pytest.approx(0.1)] * 20
    assert decoupled.loss[:30] == coupled.loss[:30]
    assert decoupled.loss[30] < coupled.loss[30]  # the prior is not in the loss


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
    with pytest.raises(ValueError, match="negative"):
        TrainConfig(harden_steps=-1)
    with pytest.raises(ValueError, match="negative"):
        TrainConfig(harden_prior=-0.1)
    with pytest.raises(ValueError, match="prior_decoupled needs harden_prior > 0"):
        TrainConfig(prior_decoupled=True)
    with pytest.raises(ValueError, match="harden_start"):
        TrainConfig(harden_start=-5)
    with pytest.raises(ValueError, match="boolean RNN"):
        TrainConfig(model="lstm", harden_steps=10)
    with pytest.raises(ValueError, match="negative"):
        TrainConfig(resample_interval=-1)
    with pytest.raises(ValueError, match="boolean RNN"):
        TrainConfig(model="gru", resample_interval=10)
    with pytest.raises(ValueError, match="resample_successors needs resample_interval"):
        TrainConfig(resample_successors=True)
    with pytest.raises(ValueError, match="resample_delays needs resample_interval"):
        TrainConfig(resample_delays=True)
    with pytest.raises(ValueError, match="resample_latches needs resample_interval"):
        TrainConfig(resample_latches=True)
    with pytest.raises(ValueError, match="scan must be one of"):
        TrainConfig(scan="fast")


def test_hardening_budgets_that_contradict_the_schedule_are_refused():
    # README's `--steps 3000 --harden-steps 15000` hardened from step 0, not after the first 100%
    with pytest.raises(
        ValueError, match=r"harden_steps=15000 must be below steps=3000: .*step -12000"
    ):
        TrainConfig(steps=3000, harden_steps=15000)
    with pytest.raises(ValueError, match="harden_steps=3000 must be below steps=3000"):
        TrainConfig(steps=3000, harden_steps=3000)
    with pytest.raises(ValueError, match="harden_start=3000 must be below steps=3000"):
        TrainConfig(steps=3000, harden_steps=100, harden_start=3000)
    with pytest.raises(ValueError, match="harden_start=5 needs harden_steps > 0"):
        TrainConfig(harden_start=5)  # was ignored
    assert TrainConfig(steps=3000, harden_steps=15000, harden_start=500).latest_harden_start == 500
    assert TrainConfig(steps=3000, harden_steps=1000).latest_harden_start == 2000


def test_steps_caps_the_whole_run_hardening_included():
    config = dataclasses.replace(
        HARDEN, steps=30, eval_interval=10, harden_steps=100, harden_start=10
    )
    result = train(config, progress=False)
    assert result.harden_from == 10 and len(result.loss) == 30


def test_the_config_picks_the_scan_of_the_boolean_rnn():
    assert make_model(TrainConfig()).scan == "auto"
    assert make_model(TrainConfig(scan="blelloch")).scan == "blelloch"


def test_small_run_reaches_100_percent():
    config = TrainConfig(
        steps=1000, batch_size=32, eval_interval=20, eval_episodes=200, stop_after_perfect=3
    )
    result = train(config, progress=False)
    assert result.steps_to_perfect is not None and result.steps_to_perfect <= 1000
    assert result.eval_accuracy[-1] == 1.0
    assert len(result.loss) == len(result.accuracy) and all(map(math.isfinite, result.loss))


HARDEN = TrainConfig(
    steps=2000, batch_size=32, eval_interval=20, eval_episodes=200, harden_steps=40
)


def test_hardening_starts_at_the_first_perfect_eval_and_ends_the_run():
    result = train(HARDEN, progress=False)
    assert result.harden_from is not None and result.harden_from == result.steps_to_perfect
    assert len(result.loss) == result.harden_from + HARDEN.harden_steps
    assert result.model.row_noise == HARDEN.harden_noise  # the ramp ended at full noise
    plain = train(
        dataclasses.replace(HARDEN, harden_steps=0, steps=len(result.loss)), progress=False
    )
    assert plain.loss[: result.harden_from] == result.loss[: result.harden_from]
    assert plain.loss[result.harden_from :] != result.loss[result.harden_from :]


def test_hardening_takes_the_end_of_the_budget_when_100_percent_comes_late():
    config = dataclasses.replace(HARDEN, steps=30, eval_interval=10, harden_steps=10)
    result = train(config, progress=False)
    assert result.steps_to_perfect is None
    assert result.harden_from == 20 and len(result.loss) == 30
    # 100% (at step 260 without hardening) comes after hardening began: hardening goes on
    config = dataclasses.replace(HARDEN, steps=1200, harden_steps=1000)
    result = train(config, progress=False)
    assert result.harden_from == 200 < result.steps_to_perfect and len(result.loss) == 1200


def test_harden_start_sets_the_latest_start_and_the_run_stops_when_hardening_ends():
    config = dataclasses.replace(HARDEN, steps=1000, eval_interval=10, harden_steps=20)
    result = train(dataclasses.replace(config, harden_start=30), progress=False)
    assert result.steps_to_perfect is None  # 100% comes at step 260 without hardening
    assert result.harden_from == 30 and len(result.loss) == 50


def test_resume_inside_hardening_gives_the_uninterrupted_run(tmp_path, monkeypatch):
    config = dataclasses.replace(HARDEN, checkpoint_interval=10)
    whole = train(config, progress=False)
    stop = whole.harden_from + config.harden_steps // 2 + 5  # after a checkpoint in hardening
    drawn = itertools.count()

    def interrupted(env_id, batch_size, *args, **kwargs):
        if batch_size == config.batch_size and next(drawn) == stop:
            raise KeyboardInterrupt  # the process dies while drawing a training batch
        return batch_rollouts(env_id, batch_size, *args, **kwargs)

    monkeypatch.setattr(agents.train, "batch_rollouts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, out_dir=tmp_path, progress=False)
    monkeypatch.undo()
    resumed = train(config, out_dir=tmp_path, resume=True, progress=False)
    assert resumed.harden_from == whole.harden_from and resumed.loss == whole.loss
    state = resumed.model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in whole.model.state_dict().items())


def test_resampling_runs_every_interval_while_hardening_and_is_recorded(monkeypatch):
    calls = []

    def recorder(model, optimizer, act, target, mask, generator, step, **rules):
        calls.append((step, int(torch.randint(1000, (1,), generator=generator))))
        return [Resample(step, output=2, token=1, source=3, bit=4)]

    monkeypatch.setattr(agents.train, "resample_dormant_bits", recorder)
    config = dataclasses.replace(HARDEN, steps=100, harden_start=30, harden_steps=20)
    result = train(dataclasses.replace(config, resample_interval=7), progress=False)
    assert [step for step, _ in calls] == [35, 42, 49]  # only while hardening (steps 30-50)
    assert result.resamples == [
        {"step": s, "output": 2, "token": 1, "source": 3, "bit": 4} for s, _ in calls
    ]
    again = [draw for _, draw in calls]
    calls.clear()
    train(dataclasses.replace(config, resample_interval=7), progress=False)
    assert [draw for _, draw in calls] == again  # each resampling draws from its own seed


def test_resampling_grows_successors_only_when_asked_and_can_use_fresh_episodes(monkeypatch):
    calls = []

    def recorder(model, optimizer, act, target, mask, generator, step, successors, delays, latches):
        calls.append((step, successors, delays, latches, len(act)))
        return []

    monkeypatch.setattr(agents.train, "resample_dormant_bits", recorder)
    config = dataclasses.replace(
        HARDEN, steps=100, harden_start=30, harden_steps=20, resample_interval=10
    )
    train(config, progress=False)
    size = HARDEN.batch_size
    assert calls == [(40, False, False, False, size), (50, False, False, False, size)]
    calls.clear()
    grow = dataclasses.replace(config, resample_successors=True, resample_episodes=7)
    train(grow, progress=False)
    assert calls == [(40, True, False, False, 7), (50, True, False, False, 7)]
    calls.clear()
    train(dataclasses.replace(config, resample_delays=True), progress=False)
    assert calls == [(40, False, True, False, size), (50, False, True, False, size)]
    calls.clear()
    train(dataclasses.replace(config, resample_latches=True), progress=False)
    assert calls == [(40, False, False, True, size), (50, False, False, True, size)]


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_baselines_train_in_the_same_loop(kind):
    config = TrainConfig(model=kind, steps=10, batch_size=16, eval_interval=5, eval_episodes=64)
    result = train(config, progress=False)
    assert result.eval_steps == [5, 10] and len(result.loss) == 10
