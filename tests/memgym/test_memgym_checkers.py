"""The ecosystem's own checkers and vector envs accept every registered id."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import memgym


@pytest.mark.parametrize("env_id", memgym.ENV_IDS)
def test_checkers_pass_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id).unwrapped, skip_render_check=False)
        sb3_check_env(gym.make(env_id).unwrapped, warn=True, skip_render_check=False)
        env = gym.make(env_id, render_mode="ansi")  # through make's wrappers too
        check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(env, warn=True, skip_render_check=False)


def test_all_ids_are_registered():
    ids = {env_id for env_id in gym.registry if env_id.startswith("memgym/")}
    assert ids == set(memgym.ENV_IDS) | set(memgym.presets.POPGYM_IDS)
    assert len(memgym.ENV_IDS) == 6 + 9 + 3 + 7 + 3 and len(ids) == len(memgym.ENV_IDS) + 9


END = memgym.RememberEnv(num_cards=4).act_tokens.index("[end]")


def play_vector(envs, steps: int = 40) -> None:
    observations, infos = envs.reset(seed=0)
    assert observations.shape == (2,)
    for _ in range(steps):
        observations, rewards, terminated, _, infos = envs.step(infos["target"])
        assert set(rewards[terminated].tolist()) <= {1.0}
    envs.close()


@pytest.mark.parametrize("vector_class", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_gymnasium_vector_envs(vector_class):
    play_vector(vector_class([lambda: gym.make("memgym/RepeatEasy-v0") for _ in range(2)]))


def test_gym_make_vec():
    envs = gym.make_vec("memgym/CountEasy-v0", num_envs=2, vectorization_mode="sync")
    play_vector(envs)


@pytest.mark.parametrize(
    "make_vec",
    [DummyVecEnv, lambda factories: SubprocVecEnv(factories, start_method="fork")],
    ids=["DummyVecEnv", "SubprocVecEnv"],
)
def test_sb3_vector_envs(make_vec):
    envs = make_vec([lambda: gym.make("memgym:memgym/RememberEasy-v0") for _ in range(2)])
    envs.seed(0)
    observations = envs.reset()
    assert observations.shape == (2,)
    episodes = 0
    for _ in range(40):
        observations, _, dones, infos = envs.step(np.zeros(2, dtype=np.int64))
        episodes += int(dones.sum())
        assert all("target" in info for info in infos)
        assert all(
            info["terminal_observation"] == END
            for info, done in zip(infos, dones, strict=True)
            if done
        )
    assert episodes >= 2
    envs.close()
