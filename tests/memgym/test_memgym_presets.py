"""Presets, scaled lengths and token names."""

from __future__ import annotations

import gymnasium as gym
import pytest
from memgym_oracle import DESIGN_PRESETS

import memgym


@pytest.mark.parametrize(("env_id", "params"), DESIGN_PRESETS.items())
def test_presets_are_exactly_the_design(env_id, params):
    env = gym.make(env_id).unwrapped
    assert env.task.params == params
    assert {k: v for k, v in params.items() if k != "max_ones"} == memgym.PRESETS[env_id]


def test_token_names():
    remember = gym.make("memgym/RememberEasy-v0").unwrapped
    assert set(remember.act_tokens) == {"[card 0]", "[card 1]", "[card 2]", "[card 3]"} | {
        "[wait]",
        "[ask]",
        "[end]",
    }
    assert set(remember.obs_tokens) == {"[wait]", "[end]", "[card 0]", "[card 1]"} | {
        "[card 2]",
        "[card 3]",
    }
    count = gym.make("memgym/CountEasy-v0").unwrapped
    assert set(count.act_tokens) == {"0", "1", "[ask]", "[end]"}
    assert set(count.obs_tokens) == {"[wait]", "[end]", *(str(k) for k in range(9))}
    repeat = gym.make("memgym/RepeatHard-v0").unwrapped
    assert set(repeat.act_tokens) == {f"[card {i}]" for i in range(8)} | {"[ask]", "[end]"}
    for env in (remember, count, repeat):
        assert env.observation_space.n == len(env.act_tokens) == len(set(env.act_tokens))
        assert env.action_space.n == len(env.obs_tokens) == len(set(env.obs_tokens))


@pytest.mark.parametrize("env_id", memgym.ENV_IDS)
@pytest.mark.parametrize("factor", [4, 10])
def test_scaled_length_kwargs(env_id, factor):
    params = gym.make(env_id).unwrapped.task.params
    kwargs = memgym.scaled_length_kwargs(env_id, factor)
    n_min, n_max = params["n_range"]
    assert kwargs == {**params, "n_range": (factor * n_min, factor * n_max)}
    if "max_ones" in params:
        assert kwargs["max_ones"] == n_max  # the answer range is kept
    env = gym.make(env_id, **kwargs)
    assert env.unwrapped.task.params == kwargs
    assert memgym.batch_rollouts(env_id, 4, seed=0, **kwargs).lengths.min() > factor * n_min


def test_scaled_length_kwargs_of_custom_parameters():
    kwargs = memgym.scaled_length_kwargs("memgym/Count-v0", 4, n_range=(5, 10), max_ones=3)
    assert kwargs == {"n_range": (20, 40), "max_ones": 3}
    kwargs = memgym.scaled_length_kwargs("memgym/Repeat-v0", 1.5, num_cards=2, lag=3)
    assert kwargs == {"num_cards": 2, "lag": 3, "n_range": (12, 48)}
    with pytest.raises(ValueError, match="lag=4 must be smaller"):
        memgym.scaled_length_kwargs("memgym/RepeatMedium-v0", 0.5)


def test_base_ids_take_parameters_as_kwargs():
    env = gym.make("memgym/Repeat-v0", num_cards=3, lag=2, n_range=[5, 7])
    assert env.unwrapped.task.params == {"num_cards": 3, "lag": 2, "n_range": (5, 7)}
    assert env.observation_space.n == 5 and env.action_space.n == 5
    env = gym.make("memgym/Count-v0", n_range=(10, 100), max_ones=3)
    assert env.action_space.n == 2 + 4


@pytest.mark.parametrize("env_id", memgym.PRESETS)
def test_the_shortest_length_a_task_allows_builds_it_and_one_less_does_not(env_id):
    task = memgym.memgym_task(env_id)
    shorter = {**task.params, "n_range": (task.shortest_n, task.n_max)}
    assert type(task)(**shorter).n_min == task.shortest_n <= task.n_min
    assert memgym.batch_rollouts(env_id, 4, seed=0, **shorter).lengths.min() >= task.shortest_n
    with pytest.raises(ValueError):
        type(task)(**{**task.params, "n_range": (task.shortest_n - 1, task.n_max)})
