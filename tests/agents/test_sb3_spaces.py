"""The SB3 plug-ins on any observation space, the GRU policy, and the history wrapper's contract."""

from __future__ import annotations

from functools import partial

import gymnasium as gym
import numpy as np
import popgym  # noqa: F401  (registers the popgym-* ids)
import pytest
import torch as th
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import memgym  # noqa: F401  (registers the envs)
from agents.ops.boolean import bool_matvec
from agents.sb3 import (
    BooleanRecurrentPolicy,
    BooleanRNNExtractor,
    GRURecurrentPolicy,
    TokenHistoryWrapper,
)
from agents.sb3.gru import GRUModule
from agents.sb3.tokens import TokenChoice, mixed_radix, mixture_scan, read_token_ids

ENV_ID = "memgym/RememberEasy-v0"


pytestmark = pytest.mark.usefixtures("one_thread")


class ShiftedTokens(gym.ObservationWrapper):
    """RememberEasy with observations ``Discrete(7, start=3)``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = spaces.Discrete(7, start=3)

    def observation(self, observation: int) -> int:
        return int(observation) + 3


class DictTokens(gym.ObservationWrapper):
    """RememberEasy with ``Dict`` observations: the token and a ``Box`` of the step count."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = spaces.Dict(
            {"token": env.observation_space, "clock": spaces.Box(0, 1, (2,), np.float32)}
        )
        self._t = 0

    def reset(self, **kwargs):
        self._t = 0
        return super().reset(**kwargs)

    def step(self, action):
        self._t += 1
        return super().step(action)

    def observation(self, observation: int) -> dict:
        clock = np.array([min(self._t / 16, 1), self._t % 2], dtype=np.float32)
        return {"token": observation, "clock": clock}


ENVS = {
    "box": lambda: gym.make("CartPole-v1"),
    "multi_discrete": lambda: gym.make("popgym-CountRecallEasy-v0"),
    "dict": lambda: DictTokens(gym.make(ENV_ID)),
    "discrete_start_3": lambda: ShiftedTokens(gym.make(ENV_ID)),
}


def recurrent(policy, make_env, **kwargs) -> RecurrentPPO:
    size = dict(state_dim=8) if policy is BooleanRecurrentPolicy else dict(lstm_hidden_size=8)
    env = make_vec_env(make_env, n_envs=2, seed=0)
    return RecurrentPPO(
        policy, env, n_steps=64, batch_size=64, n_epochs=2, seed=0, policy_kwargs=size, **kwargs
    )


@pytest.mark.parametrize("space", list(ENVS))
@pytest.mark.parametrize("policy", [BooleanRecurrentPolicy, GRURecurrentPolicy])
def test_recurrent_policies_train_save_and_load_on_any_space(policy, space, tmp_path):
    model = recurrent(policy, ENVS[space])
    model.learn(256)
    model.save(tmp_path / "model")
    loaded = RecurrentPPO.load(tmp_path / "model", device="cpu")
    assert type(loaded.policy) is policy
    env = ENVS[space]()
    obs, _ = env.reset(seed=4)
    states = [None, None]
    for step in range(6):
        out = [
            m.predict(obs, state=s, episode_start=np.array([step == 0]), deterministic=True)
            for m, s in zip((model, loaded), states, strict=True)
        ]
        assert out[0][0] == out[1][0]
        assert np.array_equal(out[0][1][0], out[1][1][0])
        states = [out[0][1], out[1][1]]
        obs = env.step(out[0][0].item())[0]


@pytest.mark.parametrize("space", list(ENVS))
def test_extractor_trains_save_and_load_on_any_space(space, tmp_path):
    env = make_vec_env(lambda: TokenHistoryWrapper(ENVS[space](), 8), n_envs=2, seed=0)
    kwargs = dict(features_extractor_class=BooleanRNNExtractor, features_extractor_kwargs={})
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=0,
                policy_kwargs=kwargs)  # fmt: skip
    model.learn(256)
    model.save(tmp_path / "model")
    loaded = PPO.load(tmp_path / "model", device="cpu")
    obs = env.reset()
    for _ in range(5):
        action = model.predict(obs, deterministic=True)[0]
        assert np.array_equal(action, loaded.predict(obs, deterministic=True)[0])
        obs = env.step(action)[0]


def test_discrete_start_is_read_as_the_same_tokens():
    """``Discrete(7, start=3)`` gives the policy the same features as ``Discrete(7)``."""
    plain = recurrent(BooleanRecurrentPolicy, partial(gym.make, ENV_ID)).policy
    shifted = recurrent(BooleanRecurrentPolicy, ENVS["discrete_start_3"]).policy
    shifted.load_state_dict(plain.state_dict())
    obs = th.tensor([0, 3, 6, 1])
    features = plain.extract_features(obs)
    assert th.equal(shifted.extract_features(obs + 3), features)
    with pytest.raises(ValueError, match=r"outside \[0, n\)"):
        shifted.extract_features(obs)


# --- fault A: state that outlives an episode -------------------------------------------------


@pytest.mark.parametrize("space", ["box", "dict", "discrete_start_3"])
def test_reset_gives_what_a_fresh_wrapper_gives(space):
    used = TokenHistoryWrapper(ENVS[space](), max_length=4)
    used.reset(seed=0)
    used.step(0)
    used.step(0)
    again = used.reset(seed=0)[0]
    fresh = TokenHistoryWrapper(ENVS[space](), max_length=4).reset(seed=0)[0]
    assert again.keys() == fresh.keys()
    for key in fresh:
        assert np.array_equal(again[key], fresh[key]), key


def test_remember_easy_history_after_reset_is_the_fresh_one():
    """The instance of issue 17: ``[2, 4, 4, 0]`` instead of ``[2, 0, 0, 0]``."""
    env = TokenHistoryWrapper(gym.make(ENV_ID), max_length=4)
    first = env.reset(seed=0)[0]["history"].tolist()
    env.step(0)
    env.step(0)
    assert env.reset(seed=0)[0]["history"].tolist() == first == [first[0], 0, 0, 0]


# --- fault C: wrappers the ecosystem cannot rebuild ------------------------------------------


@pytest.mark.parametrize("env_id", [ENV_ID, "CartPole-v1"])
def test_history_wrapper_rebuilds_from_its_spec_and_passes_check_env(env_id):
    env = TokenHistoryWrapper(gym.make(env_id), 5)
    rebuilt = gym.make(env.spec)
    assert isinstance(rebuilt, TokenHistoryWrapper) and rebuilt.max_length == 5
    assert rebuilt.observation_space == env.observation_space
    with pytest.warns(UserWarning, match="different from the unwrapped"):
        check_env(env, skip_render_check=True)


# --- fault D: inputs that are silently misread -----------------------------------------------


def test_vec_normalize_cannot_rescale_the_token_history():
    venv = DummyVecEnv([lambda: TokenHistoryWrapper(gym.make(ENV_ID), 5)])
    with pytest.raises(ValueError, match="norm_obs_keys"):
        VecNormalize(venv)
    assert VecNormalize(venv, norm_obs=False).reset()["history"].dtype == np.int64


def extractor_and_obs():
    space = TokenHistoryWrapper(gym.make(ENV_ID), 6).observation_space
    extractor = BooleanRNNExtractor(space, state_dim=8)
    return extractor, th.randint(0, 7, (3, 6)).float(), th.tensor([[1], [6], [3]]).float()


@pytest.mark.parametrize("length", [0, 7, -1])
def test_extractor_refuses_lengths_outside_the_history(length):
    extractor, tokens, lengths = extractor_and_obs()
    lengths[1] = length
    with pytest.raises(ValueError, match=r"length.*norm_obs=False"):
        extractor({"history": tokens, "length": lengths})


def test_extractor_refuses_non_integral_and_rescaled_ids():
    extractor, tokens, lengths = extractor_and_obs()
    with pytest.raises(ValueError, match=r"non-integral token ids.*norm_obs=False"):
        extractor({"history": tokens + 0.7, "length": lengths})
    with pytest.raises(ValueError, match=r"outside \[0, n\).*norm_obs=False"):
        extractor({"history": tokens - 3, "length": lengths})
    one_hot = th.nn.functional.one_hot(tokens.long(), 7).flatten(1).float()
    assert th.equal(
        extractor({"history": one_hot, "length": lengths}),
        extractor({"history": tokens, "length": lengths}),
    )
    with pytest.raises(ValueError, match="not one-hot"):
        extractor({"history": one_hot * 0.5, "length": lengths})


def test_recurrent_policy_refuses_non_integral_token_observations():
    policy = recurrent(BooleanRecurrentPolicy, partial(gym.make, ENV_ID)).policy
    with pytest.raises(ValueError, match="non-integral token ids"):
        policy.predict(np.array([2.5]))


# --- token reading, token choice and the mixture scan ----------------------------------------


def test_read_token_ids_from_ids_and_one_hots():
    radices = np.array([3, 2, 4])
    ids = th.stack([th.randint(0, int(n), (10,)) for n in radices], dim=1)
    one_hot = th.cat(
        [th.nn.functional.one_hot(ids[:, j], int(n)) for j, n in enumerate(radices)], dim=1
    )
    assert th.equal(read_token_ids(ids, radices, "x"), ids)
    assert th.equal(read_token_ids(one_hot.float(), radices, "x"), ids)
    with pytest.raises(ValueError, match=r"shaped \(N, 3\)"):
        read_token_ids(ids[:, :2], radices, "x")
    tokens = mixed_radix(ids, radices)
    assert th.equal(tokens, ids[:, 0] + 3 * ids[:, 1] + 6 * ids[:, 2])
    every = th.cartesian_prod(*map(th.arange, radices))
    assert sorted(mixed_radix(every, radices).tolist()) == list(range(24))


def test_straight_through_choice_reads_one_token_and_passes_the_softmax_gradient():
    th.manual_seed(0)
    choice = TokenChoice(5, 4, "straight_through")
    soft = TokenChoice(5, 4, "soft")
    soft.load_state_dict(choice.state_dict())
    features = th.randn(6, 5)
    u = choice(features)
    assert th.equal(u, th.nn.functional.one_hot(u.argmax(-1), 4).float())
    weights = th.randn(4)
    grads = []
    for module in (choice, soft):
        module.zero_grad()
        (module(features) @ weights).sum().backward()
        grads.append(module.scores.weight.grad.clone())
    th.testing.assert_close(grads[0], grads[1])
    with pytest.raises(ValueError, match="token_choice"):
        TokenChoice(5, 4, "gumbel")


def test_mixture_scan_equals_the_stepwise_reference_with_resets():
    th.manual_seed(1)
    K, D, B, T = 3, 5, 2, 7
    A = (th.randn(K, D, D, dtype=th.float64) * 2).requires_grad_()
    weights = th.softmax(th.randn(B, T, K, dtype=th.float64), -1)
    state, x0 = th.randn(B, D, dtype=th.float64), th.randn(D, dtype=th.float64)
    resets = th.zeros(B, T, dtype=th.bool)
    resets[0, 3] = resets[1, 0] = True
    states = mixture_scan(A, weights, state, resets, x0, "sequential")
    x, expected = state, []
    for t in range(T):
        x = th.where(resets[:, t, None], x0, x)
        x = bool_matvec(th.einsum("bk,kij->bij", weights[:, t], A), x)
        expected.append(x)
    th.testing.assert_close(states, th.stack(expected, 1))
    states.sum().backward()
    assert A.grad is not None and A.grad.abs().sum() > 0


# --- sequences with resets equal stepping; resets happen exactly at episode starts -----------


def gru_reference(module: GRUModule, features, h, resets):
    """One step at a time, zeroing the state at episode starts (RecurrentPPO's LSTM rule)."""
    outputs = []
    for t in range(features.shape[1]):
        h = h * (~resets[:, t]).to(h.dtype)[None, :, None]
        out, h = module.gru(features[:, t : t + 1], h)
        outputs.append(out)
    return th.cat(outputs, dim=1), h


def test_gru_sequences_with_resets_equal_stepping_in_one_call():
    th.manual_seed(2)
    module = GRUModule(4, 6, num_layers=2).double()
    features = th.randn(3, 9, 4, dtype=th.float64)
    h = th.randn(2, 3, 6, dtype=th.float64)
    resets = th.rand(3, 9) < 0.3
    resets[1, 0] = resets[2, 8] = True
    calls = []
    module.gru.register_forward_hook(lambda *_: calls.append(1))
    outputs, last = module(features, h, resets)
    assert len(calls) == 1
    expected, expected_last = gru_reference(module, features, h, resets)
    th.testing.assert_close(outputs, expected)
    th.testing.assert_close(last, expected_last)


@pytest.mark.parametrize("policy", [BooleanRecurrentPolicy, GRURecurrentPolicy])
@pytest.mark.parametrize("space", ["box", "multi_discrete"])
def test_policy_sequence_path_equals_stepping(policy, space):
    """``_process_sequence`` over whole sequences (float64) equals one step at a time, and
    the state is reset exactly at episode starts."""
    model = recurrent(policy, ENVS[space])
    net = model.policy.double()
    net.set_training_mode(False)
    env = ENVS[space]()
    obs = [env.reset(seed=0)[0]] + [env.step(env.action_space.sample())[0] for _ in range(11)]
    obs = th.as_tensor(np.stack([obs, obs[::-1]]).reshape(24, -1), dtype=th.float64)
    obs = obs.squeeze(-1) if obs.shape[-1] == 1 else obs
    features = net.extract_features(obs).double()  # SB3's preprocessing makes float32
    starts = th.zeros(2, 12)
    starts[0, 5] = starts[1, 0] = 1
    h = th.randn(1, 2, net.lstm_output_dim, dtype=th.float64)
    state = (h, th.zeros_like(h))
    with th.no_grad():
        whole, (last, _) = net._process_sequence(features, state, starts.flatten(), net.lstm_actor)
        stepped = []
        step_features = features.view(2, 12, -1)
        for t in range(12):
            out, state = net._process_sequence(
                step_features[:, t], state, starts[:, t], net.lstm_actor
            )
            stepped.append(out)
        th.testing.assert_close(whole.view(2, 12, -1), th.stack(stepped, 1))
        th.testing.assert_close(last, state[0])
        # From the start at step 5 on, the first sequence forgets what came before
        fresh_state = (th.randn_like(h)[:, :1], th.zeros_like(h)[:, :1])
        fresh, _ = net._process_sequence(
            step_features[0, 5:], fresh_state, th.eye(1, 7).flatten().double(), net.lstm_actor
        )
        th.testing.assert_close(whole.view(2, 12, -1)[0, 5:], fresh)
