"""Every bad input raises a clear error that names the problem."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import memgym
from memgym import RememberCore, SupervisedRollout, all_episodes, batch_rollouts


@pytest.mark.parametrize(
    ("action", "given"),
    [
        (7, "got 7"),
        (-1, "got -1"),
        (0.0, "got a float: 0.0"),
        (1.5, "got a float: 1.5"),
        (np.array([0]), r"got an array of shape \(1,\) and dtype int64"),
        (np.array(0.0), r"got an array of shape \(\) and dtype float64"),
        (True, "got the bool True"),
        (np.bool_(False), "got the bool"),
        ("2", "got a str: '2'"),
        (None, "got a NoneType: None"),
    ],
)
def test_actions_must_be_integer_scalars_of_the_action_space(action, given):
    # 0.0, np.array([0]) and True were misread as "outside the action space" or taken as 1
    env = gym.make("memgym/RepeatEasy-v0")  # Discrete(6)
    env.reset(seed=0)
    needed = r"action must be an integer scalar in the action space Discrete\(6\) \(0 to 5\), "
    with pytest.raises(ValueError, match=needed + given):
        env.step(action)


@pytest.mark.parametrize(
    ("seed", "given"), [(True, "the bool True"), (-1, "-1"), (1.5, "a float: 1.5")]
)
def test_reset_seed_must_be_a_non_negative_integer(seed, given):
    with pytest.raises(
        ValueError, match=f"seed must be a non-negative integer or None, got {given}"
    ):
        gym.make("memgym/CountEasy-v0").reset(seed=seed)
    env = gym.make("memgym/CountEasy-v0")
    assert env.reset(seed=np.int64(3))[0] == env.reset(seed=3)[0]


def test_reset_options_are_refused_not_ignored():
    env = gym.make("memgym/RememberEasy-v0")
    with pytest.raises(ValueError, match=r"take no reset options, got options=\{'n': 5\}"):
        env.reset(seed=0, options={"n": 5})
    env.reset(seed=0, options={})  # SB3's vector envs pass an empty dict


def test_core_feed_takes_integer_scalars_only():
    core = memgym.CountCore(max_ones=4)
    for act, given in [(0.0, "a float"), (True, "the bool True"), (np.array([1]), "an array")]:
        with pytest.raises(TypeError, match=f"act token must be an integer scalar, got {given}"):
            core.feed(act)
    assert core.feed(np.int64(1)) == memgym.OBS_WAIT and core.get_state().tolist() == [1, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"num_cards": True}, "num_cards must be an integer scalar, got the bool True")],
)
def test_bool_parameters_are_refused(kwargs, message):
    with pytest.raises(TypeError, match=message):
        gym.make("memgym/Remember-v0", **kwargs)


def test_supervised_rollout_records_its_arguments():
    from gymnasium.utils.env_checker import check_env

    wrapper = SupervisedRollout(gym.make("memgym/CountEasy-v0"))
    rebuilt = gym.make(wrapper.spec)  # raised "does not inherit from RecordConstructorArgs"
    assert isinstance(rebuilt, SupervisedRollout)
    assert (rebuilt.episode(seed=0)[0] == wrapper.episode(seed=0)[0]).all()
    with pytest.warns(UserWarning, match="different from the unwrapped"):
        check_env(wrapper)


def test_numpy_actions_are_accepted():
    env = gym.make("memgym/RepeatEasy-v0")
    env.reset(seed=0)
    env.step(np.int64(0))
    env.step(np.array(1))


def test_stepping_a_finished_episode():
    env = gym.make("memgym/RememberEasy-v0")
    _, info = env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(info["target"])
    with pytest.raises(RuntimeError, match=r"finished episode .* call reset"):
        env.step(0)
    env.reset()
    env.step(0)


def test_stepping_before_reset():
    with pytest.raises(RuntimeError, match="before the first reset"):
        memgym.CountEnv().step(0)
    with pytest.raises(gym.error.ResetNeeded):
        gym.make("memgym/Count-v0").step(0)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "error", "message"),
    [
        ("memgym/Remember-v0", {"num_cards": 0}, ValueError, r"num_cards must be at least 1"),
        ("memgym/Repeat-v0", {"num_cards": -2}, ValueError, r"num_cards must be at least 1"),
        ("memgym/Remember-v0", {"num_cards": 2.5}, TypeError, r"num_cards must be an integer"),
        (
            "memgym/Repeat-v0",
            {"lag": 4, "n_range": (4, 9)},
            ValueError,
            r"lag=4 must be smaller than the shortest episode length n_min=4",
        ),
        ("memgym/Repeat-v0", {"lag": 0}, ValueError, r"lag must be at least 1"),
        ("memgym/Count-v0", {"n_range": (9, 4)}, ValueError, r"n_range \(9, 4\) is empty"),
        ("memgym/Remember-v0", {"n_range": (0, 4)}, ValueError, r"must have n_min >= 1"),
        ("memgym/Remember-v0", {"n_range": (4,)}, ValueError, r"n_range must be a pair"),
        ("memgym/Remember-v0", {"n_range": 8}, ValueError, r"n_range must be a pair"),
        ("memgym/Count-v0", {"max_ones": -1}, ValueError, r"max_ones must be a non-negative"),
        ("memgym/CountHard-v0", {"max_ones": 1.5}, TypeError, r"max_ones must be an integer"),
        ("memgym/Repeat-v0", {"cards": 3}, TypeError, r"unexpected keyword argument 'cards'"),
        ("memgym/CountEasy-v0", {"num_cards": 3}, TypeError, r"unexpected keyword .*'num_cards'"),
    ],
)
def test_impossible_parameters(env_id, kwargs, error, message):
    with pytest.raises(error, match=message):
        gym.make(env_id, **kwargs)
    with pytest.raises(error, match=message):
        batch_rollouts(env_id, 4, **kwargs)


def test_unsupported_render_mode():
    with pytest.warns(UserWarning, match="render_mode='human' is not supported"):
        env = memgym.RepeatEnv(render_mode="human")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="render_mode='human' is not supported"):
        env.render()


def test_sb3_make_vec_env_accepts_the_ids():
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("memgym/RepeatEasy-v0", n_envs=2, seed=0)
    assert venv.reset().shape == (2,)
    venv.close()


def test_render_without_mode_warns():
    env = memgym.RepeatEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


def test_all_episodes_limits():
    with pytest.raises(
        ValueError, match=r"has 4294967296 episodes of length n=16, more than limit"
    ):
        all_episodes("memgym/RepeatEasy-v0", 16)
    assert len(all_episodes("memgym/RepeatEasy-v0", 3, limit=64)) == 64
    with pytest.raises(ValueError, match=r"episode length n=2 must exceed lag=2"):
        all_episodes("memgym/RepeatEasy-v0", 2)
    with pytest.raises(ValueError, match=r"episode length n must be at least 1"):
        all_episodes("memgym/CountEasy-v0", 0)
    with pytest.raises(ValueError, match="needs a memgym env id"):
        all_episodes("CartPole-v1", 3)


@pytest.mark.parametrize("batch_size", [0, -3, 2.0, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        batch_rollouts("memgym/CountEasy-v0", batch_size)


def test_scaled_length_kwargs_errors():
    for factor in (0, True, "2"):
        with pytest.raises(ValueError, match="factor must be a positive number"):
            memgym.scaled_length_kwargs("memgym/CountEasy-v0", factor)
    with pytest.raises(ValueError, match="is not a memgym env"):
        memgym.scaled_length_kwargs("CartPole-v1", 2)


def test_wrapper_needs_discrete_spaces_and_targets():
    message = "needs a Discrete or MultiDiscrete observation_space, got Box"
    with pytest.raises(ValueError, match=message):
        SupervisedRollout(gym.make("CartPole-v1"))
    env = gym.make("FrozenLake-v1")
    assert isinstance(env.observation_space, spaces.Discrete)
    with pytest.raises(KeyError, match=r'needs the env to report info\["target"\]'):
        SupervisedRollout(env).episode(seed=0)


def test_core_rejects_streams_outside_the_task():
    core = RememberCore(num_cards=2)  # act tokens: [card 0] [card 1] [wait] [ask] [end]
    with pytest.raises(ValueError, match=r"act token \[ask\] is not a valid continuation"):
        core.feed(3)
    core.feed(1)
    with pytest.raises(ValueError, match=r"act token \[card 0\] is not a valid continuation"):
        core.feed(0)
