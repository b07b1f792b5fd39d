"""Property tests of the environments against the task definition."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from memgym_oracle import check_act_stream, custom_cases, env_cases, expected_obs, task_of

import memgym

SEEDS = st.integers(0, 2**32 - 1)


def play(env: gym.Env, seed: int, policy) -> dict[str, list]:
    """One episode; ``policy(info, env)`` picks each action."""
    tokens = env.unwrapped
    act, info = env.reset(seed=seed)
    record = {"acts": [tokens.act_tokens[act]], "targets": [tokens.obs_tokens[info["target"]]]}
    record.update(rewards=[], terminated=[], truncated=[])
    while not (record["terminated"] and record["terminated"][-1]):
        act, reward, terminated, truncated, info = env.step(policy(info, env))
        record["acts"].append(tokens.act_tokens[act])
        record["targets"].append(tokens.obs_tokens[info["target"]])
        record["rewards"].append(reward)
        record["terminated"].append(terminated)
        record["truncated"].append(truncated)
    return record


def answer_target(info, env):
    return info["target"]


@settings(max_examples=60, deadline=None)
@given(case=env_cases(), seed=SEEDS)
def test_episode_matches_the_task_definition(case, seed):
    env_id, kwargs, params = case
    task = task_of(env_id)
    record = play(gym.make(env_id, **kwargs), seed, answer_target)
    n = check_act_stream(task, params, record["acts"])
    assert len(record["acts"]) == n + 2  # a_0 … a_n, then [end] with termination
    assert record["acts"][-1] == "[end]"
    assert record["targets"] == expected_obs(task, params, record["acts"])
    assert record["rewards"] == [0.0] * n + [1.0]  # the oracle policy earns +1
    assert all(type(r) is float for r in record["rewards"])
    assert record["terminated"] == [False] * n + [True]
    assert not any(record["truncated"])


@settings(max_examples=30, deadline=None)
@given(case=env_cases(), seed=SEEDS)
def test_same_seed_same_episode_whatever_the_actions(case, seed):
    env_id, kwargs, _ = case
    first = play(gym.make(env_id, **kwargs), seed, answer_target)
    again = play(gym.make(env_id, **kwargs), seed, lambda info, env: env.action_space.sample())
    assert again["acts"] == first["acts"]
    assert again["targets"] == first["targets"]


@settings(max_examples=10, deadline=None)
@given(case=custom_cases(), seed=SEEDS)
def test_lengths_cover_the_range(case, seed):
    env_id, kwargs, params = case
    env = gym.make(env_id, **kwargs)
    n_min, n_max = params["n_range"]
    lengths = set()
    env.reset(seed=seed)
    for _ in range(40 * (n_max - n_min + 1)):
        steps, terminated = 0, False
        while not terminated:
            _, _, terminated, _, _ = env.step(0)
            steps += 1
        lengths.add(steps - 1)
        env.reset()
    assert lengths == set(range(n_min, n_max + 1))


@settings(max_examples=6, deadline=None)
@given(
    env_id=st.sampled_from(
        ["memgym/RememberEasy-v0", "memgym/CountEasy-v0", "memgym/RepeatEasy-v0", "memgym/Count-v0"]
    ),
    seed=SEEDS,
)
def test_random_policy_mean_return_is_2_over_K_minus_1(env_id, seed):
    env = gym.make(env_id).unwrapped
    env.action_space.seed(seed)
    episodes, total = 1000, 0.0
    env.reset(seed=seed)
    for _ in range(episodes):
        terminated = False
        while not terminated:
            _, reward, terminated, _, _ = env.step(env.action_space.sample())
        total += reward
        env.reset()
    k = env.action_space.n
    p = 1 / k
    # Return is +1 with probability 1/K, else −1: mean 2/K − 1, std 2·sqrt(p(1 − p)).
    tolerance = 5 * 2 * math.sqrt(p * (1 - p) / episodes)
    assert abs(total / episodes - (2 / k - 1)) < tolerance


def test_count_answers_are_uniform_and_ones_spread_over_the_stream():
    rollouts = memgym.batch_rollouts(
        "memgym/Count-v0", 12_000, seed=3, n_range=(20, 20), max_ones=5
    )
    counts = np.bincount(rollouts.answers - 2, minlength=6)
    assert counts.shape == (6,)
    assert np.all(np.abs(counts / 12_000 - 1 / 6) < 0.02)
    ones_per_position = (rollouts.act[:, :20] == 1).mean(axis=0)
    assert np.all(np.abs(ones_per_position - ones_per_position.mean()) < 0.03)


def test_get_state_follows_the_hidden_state():
    env = gym.make("memgym/Repeat-v0", num_cards=4, lag=2, n_range=(3, 3)).unwrapped
    act, _ = env.reset(seed=0)
    acts = [int(act)]
    assert env.get_state().tolist() == [-1, acts[0], 0]
    for _ in range(3):
        act, *_ = env.step(0)
        acts.append(int(act))
    assert env.get_state().tolist() == [acts[1], acts[2], 1]  # answered, shift register kept


def test_seeding_through_reset_only():
    env = gym.make("memgym/RepeatMedium-v0")
    first, _ = env.reset(seed=7)
    second, _ = env.reset(seed=7)
    assert first == second
    assert isinstance(first, np.int64)
