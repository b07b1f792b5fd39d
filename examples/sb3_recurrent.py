"""Train sb3-contrib's RecurrentPPO with the boolean RNN in place of the LSTM, then evaluate it.

python examples/sb3_recurrent.py --steps 60000
"""

from __future__ import annotations

import argparse
from functools import partial

import gymnasium as gym
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import memgym  # noqa: F401  (registers the envs)
from agents.sb3 import BooleanRecurrentPolicy


def main() -> None:
    """Train on RememberEasy and print the mean return."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="memgym/RememberEasy-v0")
    parser.add_argument("--steps", type=int, default=60_000, help="env steps to train for")
    args = parser.parse_args()

    env = make_vec_env(partial(gym.make, args.env), n_envs=8, seed=0)
    model = RecurrentPPO(BooleanRecurrentPolicy, env, n_steps=64, seed=0)
    model.learn(args.steps)
    mean_return, std_return = evaluate_policy(model, env, n_eval_episodes=100)
    print(f"{args.env}: mean return {mean_return:.3f} ± {std_return:.3f}")


if __name__ == "__main__":
    main()
