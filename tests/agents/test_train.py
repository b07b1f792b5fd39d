"""The training loop: losses, reproducibility, the curriculum and a small end-to-end run."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

import agents.train
from agents.checkpoint import CHECKPOINT_DIR, load_checkpoint
from agents.extract import Automaton, verify
from agents.model import BooleanRNN
from agents.ops import bound_parameter
from agents.resample import Resample
from agents.train import (
    TrainConfig,
    curriculum_kwargs,
    every_length_rollouts,
    first_error_loss,
    first_error_sign_loss,
    make_model,
    masked_ce_loss,
    shortest_counterexample,
    stack_rollouts,
    state_dim_for,
    train,
)
from memgym import batch_rollouts, memgym_task
from tests.agents.handbuilt import FALSE, count_model

torch.set_num_threads(1)  # these models are tiny: one thread is fastest
misses = BooleanRNN.misses


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


def test_the_training_init_keeps_every_bit():
    model = BooleanRNN(2, 3, 8, init_std=0.0)
    model.training_init_(keep=16.0)
    expected = torch.full((8, 8), -8.0) + 16 * torch.eye(8)
    assert torch.equal(model.A.detach(), expected.expand(2, 8, 8))


def test_keep_prior_is_zero_only_for_keep_every_bit_with_margin():
    model = make_model(TrainConfig(state_dim=8))
    margin = math.log(8) + 2
    with torch.no_grad():
        model.A.copy_(torch.full_like(model.A, -3 * margin) + 6 * margin * torch.eye(8))
    assert model.keep_prior() == 0
    with torch.no_grad():
        model.A[0, 1, 2] = 0.0  # an off-diagonal entry at 0: costs about the margin
        model.A[2, 3, 3] = margin - 1  # a diagonal entry short of the margin
    short = margin - bound_parameter(torch.tensor(margin - 1)).item()  # about 1
    assert model.keep_prior().item() == pytest.approx(margin + short, rel=1e-5)


def test_the_prior_step_moves_a_by_rate_times_the_priors_gradient():
    model = make_model(TrainConfig(state_dim=8)).double()
    A = model.A.detach().clone()
    sign = 2 * torch.eye(8, dtype=torch.float64) - 1
    active = (math.log(8) + 2 - sign * bound_parameter(A)) > 0  # where the prior's relu is on
    leaf = A.clone().requires_grad_()
    (slope,) = torch.autograd.grad(bound_parameter(leaf).sum(), leaf)  # the bound's derivative
    expected = A + 0.01 * torch.where(active, sign * slope, 0.0)
    model.prior_step_(0.01)
    assert torch.allclose(model.A.detach(), expected, rtol=0, atol=1e-12)
    assert model.A.grad is None  # no gradient left behind for the optimizer


def test_the_prior_step_follows_each_hardening_step_only(monkeypatch):
    rates = []
    monkeypatch.setattr(BooleanRNN, "prior_step_", lambda self, rate: rates.append(rate))
    monkeypatch.setattr(agents.train, "check_automaton", lambda model, config: False)
    config = dataclasses.replace(SMALL, steps=50, harden_start=30, harden_prior=0.5, lr=0.2)
    train(config, progress=False)
    assert rates == [pytest.approx(0.1)] * 20


def test_baselines_have_no_hardening_hooks():
    model = make_model(TrainConfig(model="gru", state_dim=8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.prior_step_(1.0)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    logits = torch.tensor([[[1.0, 3.0, -2.0]]])  # argmax right, two outputs above 0
    assert model.misses(logits, torch.tensor([[1]])).tolist() == [[False]]
    assert not model.hardens and model.default_lr == 0.01


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
    with pytest.raises(ValueError, match=r"harden_prior must be at least 0\.0, got -0\.1"):
        TrainConfig(harden_prior=-0.1)
    with pytest.raises(ValueError, match="harden_start must be at least 0, got -5"):
        TrainConfig(harden_start=-5)
    with pytest.raises(ValueError, match="check_interval must be at least 1, got 0"):
        TrainConfig(check_interval=0)
    with pytest.raises(
        ValueError, match=r"state_dim must be at least 2, got 0; lr must be above 0, got -1\.0"
    ):
        TrainConfig(state_dim=0, lr=-1.0)
    with pytest.raises(ValueError, match="scan must be one of"):
        TrainConfig(scan="fast")


def test_the_state_size_comes_from_the_task():
    assert state_dim_for("memgym/RememberEasy-v0", {}) == 16  # hand-built: 8 bits
    assert state_dim_for("memgym/CountMedium-v0", {}) == 112  # 50 bits
    assert state_dim_for("memgym/Repeat-v0", {"num_cards": 3, "lag": 1}) == 16  # 6 bits
    assert state_dim_for("memgym/AutomatonMedium-v0", {}) == 80  # 32 states, 4 outputs
    assert state_dim_for("memgym/ModCountEasy-v0", {}) == 32  # no hand-built automaton
    assert make_model(TrainConfig(env_id="memgym/RepeatEasy-v0")).state_dim == 32
    assert make_model(TrainConfig(state_dim=8)).state_dim == 8


@pytest.mark.parametrize(
    "env_id, kwargs, shortest",
    [
        ("memgym/ModCountHard-v0", {}, 1),
        ("memgym/Repeat-v0", {"num_cards": 3, "lag": 2, "n_range": (5, 40)}, 3),
    ],
)
def test_episodes_of_every_length_run_from_the_shortest_the_task_allows(env_id, kwargs, shortest):
    task = memgym_task(env_id, **kwargs)
    rollouts = every_length_rollouts(env_id, kwargs, 3000, seed=4)
    lengths = rollouts.lengths - 1  # the payload length n
    assert len(rollouts) == 3000 and lengths.min() == shortest
    assert task.n_max - 10 < lengths.max() <= task.n_max
    assert set(range(shortest, task.n_min + 1)) <= set(lengths.tolist())
    assert (lengths <= task.n_max / 4).mean() > 0.5  # short lengths are dense
    assert (np.diff(rollouts.mask.astype(int), axis=1) <= 0).all()  # valid steps come first
    again = every_length_rollouts(env_id, kwargs, 3000, seed=4)
    assert (again.act == rollouts.act).all() and (again.target == rollouts.target).all()
    assert every_length_rollouts("CartPole-v1", {}, 10, seed=0) is None


def test_the_merge_ladder_doubles_its_episodes_of_every_length_up_to_its_token_budget(
    monkeypatch,
):
    monkeypatch.setattr(agents.train, "MERGE_EPISODES", 8)
    config = TrainConfig(env_id="memgym/CountEasy-v0", seed=3)
    episodes = batch_rollouts(config.env_id, 5, seed=0)
    every_length = [agents.train.merge_rollouts(config, 40, draw) for draw in range(4)]
    tokens = [int(rollouts.mask.sum()) for rollouts in every_length]
    first_seed = agents.train.batch_seed(3, agents.train.MERGE_BATCH_STREAM, 40)
    assert (
        every_length[0].act == every_length_rollouts(config.env_id, {}, 8, first_seed).act
    ).all()
    monkeypatch.setattr(agents.train, "MERGE_TOKENS", 2 * tokens[2] - 1)  # no room for a 4th
    ladder = agents.train.MergeLadder(config, 40)

    batches = list(ladder.batches(episodes, torch.device("cpu")))

    assert [len(act) for act, _, _ in batches] == [5 + 8, 5 + 16, 5 + 32]
    for (act, _, mask), drawn in zip(batches, every_length, strict=False):
        assert (act[5:, : drawn.act.shape[1]] == torch.as_tensor(drawn.act)).all()
        assert mask[:5].sum() == episodes.mask.sum() and mask[5:].sum() == drawn.mask.sum()
    assert ladder.draws == 3
    again = list(ladder.batches(episodes, torch.device("cpu")))  # a later round: no climb
    assert len(again) == 1 and torch.equal(again[0][0], batches[0][0]) and ladder.draws == 3
    lazy = agents.train.MergeLadder(config, 40)
    next(lazy.batches(episodes, torch.device("cpu")))
    assert lazy.draws == 1  # drawn as asked for
    cartpole = agents.train.MergeLadder(dataclasses.replace(config, env_id="CartPole-v1"), 40)
    ((act, _, _),) = cartpole.batches(episodes, torch.device("cpu"))  # the batch alone
    assert torch.equal(act, torch.as_tensor(episodes.act)) and cartpole.draws == 0


def test_stacked_rollouts_keep_every_row_padded_with_invalid_steps():
    short = batch_rollouts("memgym/CountEasy-v0", 3, seed=0, n_range=(1, 2))
    long = batch_rollouts("memgym/CountEasy-v0", 2, seed=1)
    both = stack_rollouts(short, long)
    width = long.act.shape[1]
    assert both.act.shape == (5, width) and (both.lengths == [*short.lengths, *long.lengths]).all()
    assert (both.act[3:] == long.act).all()
    assert (both.target[:3, : short.act.shape[1]] == short.target).all()
    assert not both.mask[:3, short.act.shape[1] :].any() and stack_rollouts(long) is long


def test_the_config_picks_the_scan_of_the_boolean_rnn():
    assert make_model(TrainConfig()).scan == "auto"
    assert make_model(TrainConfig(scan="blelloch")).scan == "blelloch"


SMALL = TrainConfig(
    steps=2000, batch_size=32, eval_interval=20, eval_episodes=200, check_interval=100
)


@pytest.mark.slow
def test_a_default_run_hardens_from_its_first_100_percent_and_stops_once_it_verifies():
    result = train(SMALL, progress=False)
    assert result.steps_to_perfect is not None
    assert result.harden_from == result.steps_to_perfect
    assert result.verified_at == result.step < SMALL.steps
    assert (result.verified_at - result.harden_from) % SMALL.check_interval == 0
    assert verify(Automaton.from_model(result.model), SMALL.env_id).verified
    assert len(result.loss) == len(result.accuracy) == result.step
    assert all(map(math.isfinite, result.loss))


def test_harden_start_is_the_latest_start_and_steps_cap_an_unverified_run(monkeypatch):
    monkeypatch.setattr(agents.train, "check_automaton", lambda model, config: False)
    monkeypatch.setattr(agents.train, "resample_dormant_bits", lambda *args, **kwargs: [])
    config = dataclasses.replace(SMALL, steps=60, harden_start=30, harden_ramp=20)
    result = train(config, progress=False)
    assert result.steps_to_perfect is None  # 100% comes later without hardening
    assert result.harden_from == 30 and result.step == 60 and result.verified_at is None
    assert result.model.row_noise == config.harden_noise  # the ramp ended at full noise
    plain = train(dataclasses.replace(config, harden_start=60), progress=False)
    assert plain.loss[:30] == result.loss[:30] and plain.loss[30:] != result.loss[30:]


def test_resume_inside_hardening_gives_the_uninterrupted_run(tmp_path, monkeypatch):
    monkeypatch.setattr(agents.train, "check_automaton", lambda model, config: False)
    config = dataclasses.replace(
        SMALL,
        steps=80,
        harden_start=30,
        check_interval=20,
        checkpoint_interval=10,
        resample_episodes=64,
    )
    whole = train(config, progress=False)
    drawn = itertools.count()

    def interrupted(env_id, batch_size, *args, **kwargs):
        if batch_size == config.batch_size and next(drawn) == 65:
            raise KeyboardInterrupt  # the process dies while drawing a training batch
        return batch_rollouts(env_id, batch_size, *args, **kwargs)

    monkeypatch.setattr(agents.train, "batch_rollouts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, out_dir=tmp_path, progress=False)
    monkeypatch.setattr(agents.train, "batch_rollouts", batch_rollouts)
    resumed = train(config, out_dir=tmp_path, resume=True, progress=False)
    assert resumed.harden_from == whole.harden_from and resumed.loss == whole.loss
    assert resumed.resamples == whole.resamples
    assert resumed.resampled_at == whole.resampled_at
    state = resumed.model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in whole.model.state_dict().items())


def test_resuming_a_verified_run_trains_no_step_and_keeps_its_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(agents.train, "check_automaton", lambda model, config: "proof")
    config = dataclasses.replace(SMALL, steps=80, harden_start=30, check_interval=20)
    done = train(config, out_dir=tmp_path, progress=False)
    assert done.verified_at == done.step == 50
    saved = load_checkpoint(tmp_path / CHECKPOINT_DIR)[0].state_dict()
    resumed = train(
        dataclasses.replace(config, steps=200), out_dir=tmp_path, resume=True, progress=False
    )
    assert resumed.step == resumed.verified_at == 50 and resumed.loss == done.loss
    again = load_checkpoint(tmp_path / CHECKPOINT_DIR)[0].state_dict()
    assert all(torch.equal(v, again[k]) for k, v in saved.items())
    assert all(torch.equal(v, resumed.model.state_dict()[k]) for k, v in saved.items())


def test_an_unverified_check_resamples_from_fresh_episodes_and_is_recorded(monkeypatch):
    calls = []

    def recorder(model, optimizer, act, target, mask, generator, step, merge_batches):
        assert len(next(iter(merge_batches))[0]) == len(act) + agents.train.MERGE_EPISODES
        calls.append((step, len(act), int(torch.randint(1000, (1,), generator=generator))))
        return [Resample(step, output=2, token=1, source=3, bit=4)]

    monkeypatch.setattr(agents.train, "resample_dormant_bits", recorder)
    monkeypatch.setattr(agents.train, "check_automaton", lambda model, config: False)
    monkeypatch.setattr(agents.train, "shortest_counterexample", lambda model, config: None)
    config = dataclasses.replace(
        SMALL, steps=50, harden_start=30, check_interval=7, resample_episodes=9
    )
    result = train(config, progress=False)
    # 7 and 14 steps in, each check REFINE_ROUNDS rounds, since every round rewires a bit
    rounds = agents.train.REFINE_ROUNDS
    assert [(step, size) for step, size, _ in calls] == [(37, 9)] * rounds + [(44, 9)] * rounds
    assert result.resampled_at == [37, 44]  # once a check: its rounds read the same episodes
    assert result.merge_draws == [1, 1]  # each round read the ladder's first batch, no more
    assert result.resamples == [
        {"step": s, "output": 2, "token": 1, "source": 3, "bit": 4} for s, _, _ in calls
    ]
    again = [draw for _, _, draw in calls]
    assert len(set(again[:rounds])) > 1  # the rounds of a check draw on from one generator
    calls.clear()
    train(config, progress=False)
    assert [draw for _, _, draw in calls] == again  # each check draws from its own seed


def test_a_check_goes_on_rewiring_with_every_counterexample_until_the_automaton_is_right(
    monkeypatch,
):
    batches, streams = [], [np.array([0, 1, 0]), np.array([1, 1, 1, 1])]

    def recorder(model, optimizer, act, target, mask, generator, step, merge_batches):
        first = next(iter(merge_batches))[0]
        assert (first[: len(act), : act.shape[1]] == act).all()  # the batch, then more
        batches.append(act)
        return [Resample(step, output=2, token=1, source=3, bit=4)]

    monkeypatch.setattr(agents.train, "resample_dormant_bits", recorder)
    monkeypatch.setattr(  # right once two rewirings were made
        agents.train, "check_automaton", lambda model, config: "proof" * (len(batches) == 2)
    )
    found = iter(streams)
    monkeypatch.setattr(
        agents.train, "shortest_counterexample", lambda model, config: (s := next(found), s + 2)
    )
    config = dataclasses.replace(
        SMALL, steps=50, harden_start=30, check_interval=7, resample_episodes=9
    )
    result = train(config, progress=False)

    assert result.verified_at == 37 and result.verified_by == "proof"
    assert [len(act) for act in batches] == [10, 11]  # the batch, then each counterexample
    assert (batches[1][-2, :3] == torch.as_tensor(streams[0])).all()
    assert (batches[1][-1, :4] == torch.as_tensor(streams[1])).all()


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_baselines_train_in_the_same_loop_without_hardening(kind, monkeypatch):
    monkeypatch.setattr(agents.train, "check_automaton", lambda *args: pytest.fail("checked"))
    config = TrainConfig(
        model=kind, steps=10, batch_size=16, eval_interval=5, eval_episodes=64, harden_start=0
    )
    result = train(config, progress=False)
    assert result.eval_steps == [5, 10] and len(result.loss) == 10
    assert result.harden_from is None and result.verified_at is None


def test_the_shortest_counterexample_is_an_episode_of_the_reference_or_none():
    config = TrainConfig(env_id="memgym/CountEasy-v0")
    model = count_model(8)
    assert shortest_counterexample(model, config) is None
    with torch.no_grad():
        model.A[1, 2, 1] = FALSE  # the first 1 read from "count 0" is lost
    act, target = shortest_counterexample(model, config)
    predictions = Automaton.from_model(model).run(act[None]).predictions[0]
    assert predictions[-1] != target[-1] and (predictions[:-1] == target[:-1]).all()
    assert len(act) == 5 and 1 in act[:4] and act[4] == 2  # n_min = 4 bits, then [ask]


def test_a_failed_check_adds_the_counterexample_to_the_resampling_batch(monkeypatch):
    seen = []
    stream = np.array([0, 1] * 40)  # longer than any episode of the batch

    def recorder(model, optimizer, act, target, mask, generator, step, merge_batches):
        seen.append((act, target, mask))
        return []

    monkeypatch.setattr(agents.train, "resample_dormant_bits", recorder)
    monkeypatch.setattr(agents.train, "check_automaton", lambda model, config: None)
    monkeypatch.setattr(
        agents.train, "shortest_counterexample", lambda model, config: (stream, stream + 2)
    )
    config = dataclasses.replace(SMALL, steps=40, harden_start=30, check_interval=7)
    train(dataclasses.replace(config, resample_episodes=9), progress=False)

    act, target, mask = seen[0]
    assert act.shape == (10, 80) and mask[:9, 20:].sum() == 0
    assert (act[-1] == torch.as_tensor(stream)).all() and (target[-1] == act[-1] + 2).all()
    assert mask[-1].all()
