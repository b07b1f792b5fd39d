"""Supervised rollouts: the wrapper, the batched generator and the enumeration."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from memgym_oracle import DESIGN_PRESETS, check_act_stream, env_cases, expected_obs, task_of

import memgym
from memgym import EPISODES_PER_DRAW, NO_OBS, SupervisedRollout, all_episodes, batch_rollouts

SEEDS = st.integers(0, 2**32 - 1)


def by_hand(env: gym.Env, seed: int, episodes: int = 1) -> list[tuple[list[int], list[int]]]:
    """Step the env answering ``info["target"]``: each episode's observations and targets."""
    played = []
    for episode in range(episodes):
        act, info = env.reset(seed=seed if episode == 0 else None)
        acts, targets, terminated = [int(act)], [info["target"]], False
        while not terminated:
            act, _, terminated, _, info = env.step(targets[-1])
            acts.append(int(act))
            targets.append(info["target"])
        played.append((acts, targets))
    return played


def check_row_against_definition(rollouts, row, env_id, params):
    length = rollouts.lengths[row]
    acts = [rollouts.act_tokens[a] for a in rollouts.act[row]]
    targets = [rollouts.obs_tokens[o] for o in rollouts.target[row]]
    n = check_act_stream(task_of(env_id), params, acts)
    assert length == n + 1
    assert targets == expected_obs(task_of(env_id), params, acts)
    assert rollouts.mask[row].tolist() == [True] * length + [False] * (len(acts) - length)
    assert set(acts[length:]) <= {"[end]"}


@settings(max_examples=40, deadline=None)
@given(case=env_cases(), batch_size=st.integers(1, 6), seed=SEEDS)
def test_batch_rows_follow_the_task_definition(case, batch_size, seed):
    env_id, kwargs, params = case
    rollouts = batch_rollouts(env_id, batch_size, seed=seed, **kwargs)
    assert rollouts.act.shape == rollouts.target.shape == rollouts.mask.shape
    assert rollouts.act.shape == (batch_size, rollouts.lengths.max())
    assert rollouts.act.dtype == rollouts.target.dtype == np.int64
    assert rollouts.mask.dtype == bool
    for row in range(batch_size):
        check_row_against_definition(rollouts, row, env_id, params)
    next_valid = np.pad(rollouts.mask[:, 1:], ((0, 0), (0, 1)))
    assert np.array_equal(rollouts.answer_mask, rollouts.mask & ~next_valid)


@settings(max_examples=25, deadline=None)
@given(case=env_cases(), seed=SEEDS, episodes=st.integers(1, 4))
def test_generator_agrees_with_stepping_the_env_by_hand(case, seed, episodes):
    # After reset(seed=s) the env plays the rows of batch_rollouts(..., EPISODES_PER_DRAW, s).
    env_id, kwargs, _ = case
    played = by_hand(gym.make(env_id, **kwargs), seed, episodes)
    rollouts = batch_rollouts(env_id, EPISODES_PER_DRAW, seed=seed, **kwargs)
    for row, (acts, targets) in enumerate(played):
        steps = len(acts) - 1
        assert rollouts.lengths[row] == steps
        assert rollouts.act[row, :steps].tolist() == acts[:-1]  # observation at each step
        assert rollouts.target[row, :steps].tolist() == targets[:-1]  # info["target"]
        assert rollouts.act[row, steps:].tolist() == acts[-1:] * (rollouts.act.shape[1] - steps)
        assert rollouts.target[row, steps:].tolist() == targets[-1:] * (
            rollouts.act.shape[1] - steps
        )


@settings(max_examples=25, deadline=None)
@given(case=env_cases(), seed=SEEDS)
def test_wrapper_agrees_with_stepping_the_env_by_hand(case, seed):
    env_id, kwargs, _ = case
    [(acts, targets)] = by_hand(gym.make(env_id, **kwargs), seed)
    act, obs = SupervisedRollout(gym.make(env_id, **kwargs)).episode(seed=seed)
    assert act.dtype == obs.dtype == np.int64
    assert act.tolist() == acts
    assert obs.tolist() == [NO_OBS, *targets[:-1]]


@settings(max_examples=10, deadline=None)
@given(case=env_cases(), seed=SEEDS)
def test_batch_rows_agree_with_the_env_core(case, seed):
    env_id, kwargs, _ = case
    rollouts = batch_rollouts(env_id, 8, seed=seed, **kwargs)
    core = gym.make(env_id, **kwargs).unwrapped.task.core()
    for act, target in zip(rollouts.act, rollouts.target, strict=True):
        core.reset()
        assert [core.feed(int(a)) for a in act] == target.tolist()


def test_same_seed_same_arrays():
    for env_id in memgym.ENV_IDS:
        first, again = batch_rollouts(env_id, 16, seed=5), batch_rollouts(env_id, 16, seed=5)
        for name in ("act", "target", "mask", "lengths"):
            assert np.array_equal(getattr(first, name), getattr(again, name))
        assert not np.array_equal(first.act, batch_rollouts(env_id, 16, seed=6).act)


def test_padding_is_the_end_tokens():
    rollouts = batch_rollouts("memgym/RememberEasy-v0", 64, seed=0)
    padded = ~rollouts.mask
    assert padded.any()
    assert set(rollouts.act[padded].tolist()) == {rollouts.act_tokens.index("[end]")}
    assert set(rollouts.target[padded].tolist()) == {rollouts.obs_tokens.index("[end]")}


def test_scaled_lengths_pass_through():
    kwargs = memgym.scaled_length_kwargs("memgym/CountHard-v0", 10)
    rollouts = batch_rollouts("memgym/CountHard-v0", 256, seed=1, **kwargs)
    assert rollouts.lengths.min() >= 161 and rollouts.lengths.max() <= 641
    assert rollouts.answers.max() <= rollouts.obs_tokens.index("64")
    assert len(rollouts.obs_tokens) == 2 + 65


@pytest.mark.parametrize(
    ("env_id", "kwargs", "n", "count"),
    [
        ("memgym/RememberMedium-v0", {}, 5, 16),
        ("memgym/CountEasy-v0", {}, 6, 2**6),
        ("memgym/Count-v0", {"max_ones": 2}, 40, 1 + 40 + math.comb(40, 2)),
        ("memgym/RepeatEasy-v0", {}, 6, 4**6),
        ("memgym/Repeat-v0", {"num_cards": 3, "lag": 1, "n_range": (2, 4)}, 2, 9),
    ],
)
def test_all_episodes_lists_every_valid_episode_once(env_id, kwargs, n, count):
    rollouts = all_episodes(env_id, n, **kwargs)
    assert rollouts.act.shape == (count, n + 1)
    assert rollouts.mask.all()
    assert len(np.unique(rollouts.act, axis=0)) == count
    params = {"max_ones": n, **DESIGN_PRESETS.get(env_id, {}), **kwargs, "n_range": (n, n)}
    for row in range(0, count, max(1, count // 50)):
        check_row_against_definition(rollouts, row, env_id, params)


class Echo(gym.Env):
    """Not a memgym env: shows random bits; the target is the bit shown two steps earlier."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, steps: int = 5) -> None:
        self.steps = steps
        self.observation_space = spaces.Discrete(2)
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.bits = [int(b) for b in self.np_random.integers(0, 2, size=self.steps)]
        self.length = int(self.np_random.integers(2, self.steps))
        self.t = 0
        return np.int64(self.bits[0]), {"target": 2}

    def step(self, action):
        self.t += 1
        target = self.bits[self.t - 2] if self.t >= 2 else 2
        return np.int64(self.bits[self.t]), 0.0, self.t == self.length, False, {"target": target}


def test_other_envs_go_through_the_wrapper():
    gym.register(id="echo-test/Echo-v0", entry_point=Echo)
    rollouts = batch_rollouts("echo-test/Echo-v0", 20, seed=3, steps=7)
    again = batch_rollouts("echo-test/Echo-v0", 20, seed=3, steps=7)
    assert np.array_equal(rollouts.act, again.act)
    assert rollouts.act_tokens == ("0", "1")
    assert rollouts.obs_tokens == ("0", "1", "2")
    wrapper = SupervisedRollout(gym.make("echo-test/Echo-v0", steps=7))
    for row, (act, obs) in enumerate(wrapper.episodes(20, seed=3)):
        length = rollouts.lengths[row]
        assert length == len(act) - 1
        assert rollouts.act[row, :length].tolist() == act[:-1].tolist()
        assert rollouts.target[row, :length].tolist() == obs[1:].tolist()
        assert not rollouts.act[row, length:].any() and not rollouts.target[row, length:].any()
        assert rollouts.mask[row].sum() == length
