"""The Stable-Baselines3 plug-ins: extractor, recurrent policy and predictor-as-policy."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import memgym  # noqa: F401  (registers the envs)
from agents.model import BooleanRNN
from agents.sb3 import (
    BooleanRecurrentPolicy,
    BooleanRNNExtractor,
    PredictorPolicy,
    TokenHistoryWrapper,
)

ENV_ID = "memgym/RememberEasy-v0"
MAX_LENGTH = 17  # RememberEasy: n <= 16, so at most 17 observations per episode
ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


def history_env() -> TokenHistoryWrapper:
    return TokenHistoryWrapper(gym.make(ENV_ID), MAX_LENGTH)


def recurrent_model(**kwargs) -> RecurrentPPO:
    env = make_vec_env(partial(gym.make, ENV_ID), n_envs=2, seed=0)
    return RecurrentPPO(
        BooleanRecurrentPolicy,
        env,
        n_steps=32,
        batch_size=32,
        n_epochs=2,
        policy_kwargs=dict(state_dim=8),
        seed=0,
        **kwargs,
    )


def test_history_wrapper_keeps_the_episode_tokens():
    raw, env = gym.make(ENV_ID), TokenHistoryWrapper(gym.make(ENV_ID), max_length=3)
    seen = [int(raw.reset(seed=0)[0])]
    obs, _ = env.reset(seed=0)
    for step in range(5):
        recent = seen[-3:]
        assert obs["history"].tolist() == recent + [0] * (3 - len(recent))
        assert int(obs["length"]) == len(recent)
        assert env.observation_space.contains(obs)
        if step < 4:
            seen.append(int(raw.step(0)[0]))
            obs = env.step(0)[0]
    assert int(env.reset(seed=1)[0]["length"]) == 1


def test_unsupported_spaces_are_refused():
    with pytest.raises(ValueError, match="max_length must be a positive integer"):
        TokenHistoryWrapper(gym.make("FrozenLake-v1"), 0)
    for bad in ("17", 2.5, True):
        with pytest.raises(TypeError, match="max_length must be a positive integer"):
            TokenHistoryWrapper(gym.make("FrozenLake-v1"), bad)
    with pytest.raises(ValueError, match="Discrete, 1-D MultiDiscrete and Box"):
        TokenHistoryWrapper(TextEnv(), 8)
    with pytest.raises(ValueError, match="TokenHistoryWrapper"):
        BooleanRNNExtractor(gym.make("CartPole-v1").observation_space)


class TextEnv(gym.Env):
    observation_space = gym.spaces.Text(4)
    action_space = gym.spaces.Discrete(2)


@pytest.mark.parametrize("feature_scale", [0.0, -1.0])
def test_feature_scale_must_be_positive(feature_scale):
    with pytest.raises(ValueError, match="feature_scale"):
        BooleanRNNExtractor(history_env().observation_space, feature_scale=feature_scale)
    with pytest.raises(ValueError, match="feature_scale"):
        RecurrentPPO(
            BooleanRecurrentPolicy, ENV_ID, policy_kwargs=dict(feature_scale=feature_scale)
        )


def test_recurrent_features_are_scaled_truth_values():
    policy = recurrent_model().policy
    obs = th.zeros(6, policy.features_dim)
    obs[th.arange(6), th.tensor([0, 3, 1, 1, 2, 0])] = 1
    state = policy.lstm_actor.rnn.x0.detach().expand(1, 2, -1).contiguous()
    features, _ = policy._process_sequence(
        obs, (state, th.zeros_like(state)), th.zeros(6), policy.lstm_actor
    )
    states = policy.lstm_actor.rnn.scan_states(th.tensor([[0, 3, 1], [1, 2, 0]]), state[0])
    assert th.allclose(features, th.sigmoid(states / policy.feature_scale).flatten(0, 1))


@pytest.mark.parametrize("algo", [PPO, A2C, DQN])
def test_extractor_trains_with_any_algorithm(algo, tmp_path):
    kwargs = dict(learning_starts=64, buffer_size=1000) if algo is DQN else dict(n_steps=64)
    model = algo(
        "MultiInputPolicy",
        history_env(),
        policy_kwargs=dict(
            features_extractor_class=BooleanRNNExtractor,
            features_extractor_kwargs=dict(state_dim=8),
        ),
        seed=0,
        **kwargs,
    )
    model.learn(256)
    obs, _ = history_env().reset(seed=3)
    action, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model")
    assert any(isinstance(m, BooleanRNNExtractor) for m in loaded.policy.modules())
    assert loaded.predict(obs, deterministic=True)[0] == action


def test_extractor_reads_the_last_valid_state():
    extractor = BooleanRNNExtractor(history_env().observation_space, state_dim=8)
    tokens = th.randint(0, 7, (4, MAX_LENGTH))
    length = th.tensor([[1], [5], [17], [9]])
    features = extractor({"history": tokens.float(), "length": length.float()})
    states = extractor.rnn.scan_states(tokens)
    for row in range(4):
        expected = th.sigmoid(states[row, length[row, 0] - 1] / extractor.feature_scale)
        assert th.allclose(features[row], expected)


def test_recurrent_policy_trains_saves_and_loads(tmp_path):
    model = recurrent_model()
    model.learn(128)
    assert model.policy.lstm_actor.hidden_size == 8
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=5)
    tokens = [obs] + [env.step(0)[0] for _ in range(6)]
    model.save(tmp_path / "rppo")
    loaded = RecurrentPPO.load(tmp_path / "rppo")
    assert isinstance(loaded.policy, BooleanRecurrentPolicy)
    for params, loaded_params in zip(
        model.policy.parameters(), loaded.policy.parameters(), strict=True
    ):
        assert th.equal(params, loaded_params)
    states = [None, None]
    for step, token in enumerate(tokens):
        starts = np.array([step == 0])
        out = [
            m.predict(token, state=s, episode_start=starts, deterministic=True)
            for m, s in zip((model, loaded), states, strict=True)
        ]
        assert out[0][0] == out[1][0]
        assert np.array_equal(out[0][1][0], out[1][1][0])
        states = [out[0][1], out[1][1]]


def process(policy: BooleanRecurrentPolicy, tokens: th.Tensor, state: th.Tensor, starts: th.Tensor):
    """``_process_sequence`` on token sequences ``(n_seq, T)`` from states ``(n_seq, D)``."""
    features = th.nn.functional.one_hot(tokens.flatten(), policy.features_dim).float()
    h = state.unsqueeze(0)
    return policy._process_sequence(
        features, (h, th.zeros_like(h)), starts.flatten().float(), policy.lstm_actor
    )


def test_whole_sequence_is_one_scan_equal_to_stepping():
    policy = recurrent_model().policy
    th.manual_seed(0)
    tokens = th.randint(0, 7, (3, 12))
    starts = th.rand(3, 12) < 0.2
    starts[1, 4] = starts[2, 0] = True
    state = th.randn(3, 8)
    calls = []
    scan_states = policy.lstm_actor.rnn.scan_states
    policy.lstm_actor.rnn.scan_states = lambda *a, **k: calls.append(1) or scan_states(*a, **k)
    whole, (h, c) = process(policy, tokens, state, starts)
    assert len(calls) == 1
    stepped, x = [], state
    for t in range(12):
        out, (x, _) = process(
            policy, tokens[:, t : t + 1], x[0] if x.dim() == 3 else x, starts[:, t : t + 1]
        )
        stepped.append(out)
    stepped = th.stack(stepped, dim=1).flatten(0, 1)
    assert th.allclose(whole, stepped, atol=1e-5)
    assert th.allclose(h, x, atol=1e-5)
    assert h.shape == c.shape == (1, 3, 8)


def test_state_is_reset_exactly_at_episode_starts():
    policy = recurrent_model().policy
    th.manual_seed(1)
    tokens = th.randint(0, 7, (2, 10))
    tokens[1, 6:] = tokens[0, 6:]
    starts = th.zeros(2, 10, dtype=th.bool)
    starts[:, 6] = True
    state = th.randn(2, 8)
    out, _ = process(policy, tokens, state, starts)
    out = out.view(2, 10, -1)
    first = th.zeros(1, 4, dtype=th.bool)
    first[0, 0] = True
    fresh, _ = process(policy, tokens[:1, 6:], th.randn(1, 8), first)
    # From the episode start on, the history before it no longer matters ...
    assert th.allclose(out[0, 6:], fresh[:4], atol=1e-6)
    assert th.allclose(out[1, 6:], fresh[:4], atol=1e-6)
    # ... and the state is not reset where no episode starts.
    no_reset, _ = process(policy, tokens, state, th.zeros(2, 10, dtype=th.bool))
    assert not th.allclose(no_reset.view(2, 10, -1)[0, 6:], fresh[:4], atol=1e-3)
    assert th.allclose(no_reset.view(2, 10, -1)[:, :6], out[:, :6])


def test_training_pass_matches_the_rollout():
    """Log-probabilities recomputed on the buffer's sequences (with starts) equal the rollout's."""
    model = recurrent_model()
    _, callback = model._setup_learn(64, callback=None)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    assert model.rollout_buffer.episode_starts[1:].any()
    model.policy.set_training_mode(False)
    with th.no_grad():
        for batch in model.rollout_buffer.get(batch_size=None):
            _, log_prob, _ = model.policy.evaluate_actions(
                batch.observations,
                batch.actions.long().flatten(),
                batch.lstm_states,
                batch.episode_starts,
            )
            mask = batch.mask > 0.5
            assert th.allclose(log_prob[mask], batch.old_log_prob[mask], atol=1e-5)


def test_predict_without_state_starts_from_the_initial_state():
    model = recurrent_model()
    policy = model.policy
    _, (h, _) = policy.predict(np.array([2, 3]), deterministic=True)
    x0 = policy.lstm_actor.rnn.initial_state(2)
    expected = policy.lstm_actor.rnn.scan_states(th.tensor([[2], [3]]), x0)[:, -1]
    assert np.allclose(h[0], expected.detach().numpy(), atol=1e-6)


def test_tensorboard_logging_writes_events(tmp_path):
    model = recurrent_model(tensorboard_log=str(tmp_path))
    model.learn(128, tb_log_name="boolean")
    assert list(tmp_path.glob("boolean_*/events.out.tfevents.*"))


def exact_remember_predictor(env: gym.Env) -> BooleanRNN:
    """The hand-built automaton of Remember, parameters at the boolean limit."""
    act, obs = env.unwrapped.act_tokens, env.unwrapped.obs_tokens
    cards = [token for token in act if token.startswith("[card")]
    # Bits: start, holding card i, answering card i, end.
    start, end = 0, 1 + 2 * len(cards)
    hold = {card: 1 + i for i, card in enumerate(cards)}
    answer = {card: 1 + len(cards) + i for i, card in enumerate(cards)}
    model = BooleanRNN(len(act), len(obs), end + 1)
    big = 1e4
    with th.no_grad():
        model.A.fill_(-big)
        model.C.fill_(-big)
        model.x0.fill_(-big)
        model.x0[start] = big
        for card in cards:
            model.A[act.index(card), hold[card], start] = big
            model.A[act.index("[wait]"), hold[card], hold[card]] = big
            model.A[act.index("[ask]"), answer[card], hold[card]] = big
            model.A[act.index("[end]"), end, answer[card]] = big
            model.C[obs.index("[wait]"), hold[card]] = big
            model.C[obs.index(card), answer[card]] = big
        model.A[act.index("[end]"), end, end] = big
        model.C[obs.index("[end]"), end] = big
    return model


def test_exact_predictor_gets_full_return():
    env = make_vec_env(partial(gym.make, ENV_ID), n_envs=3, seed=0)
    predictor = PredictorPolicy(exact_remember_predictor(env.envs[0]), env)
    mean_return, std_return = evaluate_policy(predictor, env, n_eval_episodes=30)
    assert mean_return == 1.0 and std_return == 0.0
    action, state = predictor.predict(np.int64(0))
    assert np.ndim(action) == 0 and state.shape == (1, 10)


def test_the_predictor_policy_refuses_what_it_would_play_wrong():
    model = exact_remember_predictor(gym.make(ENV_ID).unwrapped)
    with pytest.raises(ValueError, match=r"observation space must be Discrete\(7\)"):
        PredictorPolicy(model, gym.make("memgym/CountEasy-v0"))  # another task, same range
    with pytest.raises(ValueError, match=r"observation space must be Discrete\(7\)"):
        PredictorPolicy(model, gym.make("CartPole-v1"))
    with pytest.raises(TypeError, match=r"plays a trained BooleanRNN.*got str"):
        PredictorPolicy("runs/checkpoint")
    with pytest.raises(ValueError, match=r"one Discrete token per env.*float64 \(4,\)"):
        PredictorPolicy(model).predict(np.zeros(4))


@pytest.mark.parametrize(
    "script",
    ["examples/sb3_extractor.py", "examples/sb3_recurrent.py", "examples/train_predictor.py"],
)
def test_example_runs(script):
    result = subprocess.run(
        [sys.executable, script, "--steps", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "mean return" in result.stdout


def test_lr_scale_keeps_the_values_and_scales_the_adam_step():
    obs_space = TokenHistoryWrapper(gym.make(ENV_ID), MAX_LENGTH).observation_space
    th.manual_seed(0)
    plain = BooleanRNNExtractor(obs_space, state_dim=8, lr_scale=1.0)
    th.manual_seed(0)
    scaled = BooleanRNNExtractor(obs_space, state_dim=8, lr_scale=10.0)
    obs = {"history": th.randint(0, 6, (4, MAX_LENGTH)), "length": th.full((4, 1), MAX_LENGTH)}
    th.testing.assert_close(plain(obs), scaled(obs))
    steps = []
    for extractor in (plain, scaled):
        before = extractor.rnn.A.detach().clone()
        optimizer = th.optim.Adam(extractor.parameters(), lr=1e-3)
        extractor(obs).sum().backward()
        optimizer.step()
        steps.append((extractor.rnn.A.detach() - before).abs().max())
    th.testing.assert_close(steps[1], 10 * steps[0], rtol=1e-3, atol=0)
