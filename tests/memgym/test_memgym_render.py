"""The ansi render and the example script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym

import memgym

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "play_env.py"


def test_ansi_render_is_the_act_obs_table():
    env = memgym.RememberEnv(num_cards=1, n_range=(2, 2), render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "t      0\nact    [card 0]\nobs\nguess"
    for guess in ("[end]", "[wait]", "[card 0]"):
        env.step(env.obs_tokens.index(guess))
    assert env.render() == (
        "t      0         1       2       3\n"
        "act    [card 0]  [wait]  [ask]   [end]\n"
        "obs              [wait]  [wait]  [card 0]\n"
        "guess            [end]   [wait]  [card 0]"
    )


def test_long_episodes_wrap():
    env = gym.make("memgym/RememberHard-v0", render_mode="ansi")
    _, info = env.reset(seed=1)
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(info["target"])
    text = env.render()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.count("[ask]") == 1 and "\n\nt " in text


def test_example_plays_an_episode():
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--env", "memgym/CountEasy-v0", "--seed", "3"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "[ask]" in result.stdout
    assert result.stdout.strip().endswith("return: +1")
