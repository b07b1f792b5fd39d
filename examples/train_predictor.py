"""Train the boolean RNN as a predictor on supervised rollouts, then play it as a policy.

python examples/train_predictor.py --steps 2000
"""

from __future__ import annotations

import argparse
from functools import partial

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import memgym  # noqa: F401  (registers the envs)
from agents.sb3 import PredictorPolicy
from agents.train import TrainConfig, train


def main() -> None:
    """Train on rollouts of an env, then score the predictor with SB3's evaluate_policy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="memgym/RememberEasy-v0")
    parser.add_argument("--steps", type=int, default=2000, help="step cap (stops once verified)")
    args = parser.parse_args()

    config = TrainConfig(
        env_id=args.env,
        steps=args.steps,
        eval_interval=100,
        eval_episodes=200,
    )
    result = train(config, progress=False)
    print(f"held-out answer accuracy {result.eval_accuracy[-1]:.3f} after {result.step} batches")

    env = make_vec_env(partial(gym.make, args.env), n_envs=8, seed=0)
    mean_return, std_return = evaluate_policy(
        PredictorPolicy(result.model, env), env, n_eval_episodes=100
    )
    print(f"{args.env}: mean return {mean_return:.3f} ± {std_return:.3f}")


if __name__ == "__main__":
    main()
