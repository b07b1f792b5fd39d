"""Play one memgym episode with the oracle policy and print it as an act/obs table.

python examples/play_env.py --env memgym/RepeatEasy-v0 --seed 0
"""

from __future__ import annotations

import argparse

import gymnasium as gym

import memgym


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, play one episode, print its table and return."""
    parser = argparse.ArgumentParser(description="Play one memgym episode with the oracle policy.")
    parser.add_argument("--env", default="memgym/RepeatEasy-v0", choices=memgym.ENV_IDS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    env = gym.make(args.env, render_mode="ansi")
    _, info = env.reset(seed=args.seed)
    episode_return, terminated = 0.0, False
    while not terminated:
        # The oracle policy names the obs token the system will show next.
        _, reward, terminated, _, info = env.step(info["target"])
        episode_return += reward
    print(env.render())
    print(f"return: {episode_return:+.0f}")
    env.close()


if __name__ == "__main__":
    main()
