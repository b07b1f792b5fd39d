"""Train PPO with the boolean RNN as its features extractor over the token history, then evaluate.

python examples/sb3_extractor.py --steps 60000
"""

from __future__ import annotations

import argparse

import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import memgym  # noqa: F401  (registers the envs)
from agents.sb3 import BooleanRNNExtractor, TokenHistoryWrapper

MAX_LENGTH = 17  # the longest RememberEasy episode: n <= 16, so 17 observations


def make_env() -> gym.Env:
    """RememberEasy whose observation is the episode's token history."""
    return TokenHistoryWrapper(gym.make("memgym/RememberEasy-v0"), max_length=MAX_LENGTH)


def main() -> None:
    """Train on RememberEasy and print the mean return."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60_000, help="env steps to train for")
    args = parser.parse_args()

    env = make_vec_env(make_env, n_envs=8, seed=0)
    model = PPO(
        "MultiInputPolicy",
        env,
        n_steps=64,
        policy_kwargs=dict(features_extractor_class=BooleanRNNExtractor),
        seed=0,
    )
    model.learn(args.steps)
    mean_return, std_return = evaluate_policy(model, env, n_eval_episodes=100)
    print(f"memgym/RememberEasy-v0: mean return {mean_return:.3f} ± {std_return:.3f}")


if __name__ == "__main__":
    main()
