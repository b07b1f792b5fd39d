"""POPGym's memory tasks with ``info["target"]``, for supervised training (extra ``[popgym]``).

``memgym/POPGym-{RepeatPrevious,RepeatFirst,CountRecall}{Easy,Medium,Hard}-v0`` build POPGym's
own env unchanged (same spaces, rewards, returns and RNG) inside ``POPGymTarget``, which adds
``info["target"]`` to ``reset`` and ``step``: the action POPGym will reward on the *next*
step. POPGym does not score RepeatPrevious's first ``k − 1`` steps; there, and after the last
step, ``info`` has no ``"target"``. The targets, read off POPGym's state as its ``step``
scores them:

- RepeatPrevious: the suit of the card dealt ``k − 1`` cards before the one just shown
  (``deck.suits_idx[deck["player"][-k]]``), once ``k`` cards are in hand;
- RepeatFirst: the suit of the first card (``env.card``);
- CountRecall: how often the queried value has been dealt (``counts[query]``).
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
from popgym.envs import count_recall, repeat_first, repeat_previous

TASKS = {
    "RepeatPrevious": repeat_previous,
    "RepeatFirst": repeat_first,
    "CountRecall": count_recall,
}
LEVELS = ("Easy", "Medium", "Hard")


class POPGymTarget(gym.Wrapper):
    """Adds ``info["target"]`` (the next rewarded action) to a POPGym memory env.

    ``info`` is copied on every call (CountRecall returns one ``counts`` array each time,
    which Gymnasium's checker rejects); its contents are POPGym's.
    """

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """POPGym's reset, with the first step's target."""
        observation, info = self.env.reset(**kwargs)
        return observation, self._with_target(copy.deepcopy(info), terminated=False)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """POPGym's step, with the next step's target when it is scored."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        info = self._with_target(copy.deepcopy(info), terminated or truncated)
        return observation, reward, terminated, truncated, info

    def target(self) -> int | None:
        """The action POPGym rewards on the next step, or None when that step is not scored."""
        env = self.env.unwrapped
        if isinstance(env, repeat_previous.RepeatPrevious):
            if env.deck.hand_size("player") < env.k:
                return None
            return int(env.deck.suits_idx[env.deck["player"][-env.k]])
        if isinstance(env, repeat_first.RepeatFirst):
            return int(env.card)
        return int(env.counts[env.query])

    def _with_target(self, info: dict[str, Any], terminated: bool) -> dict[str, Any]:
        target = None if terminated else self.target()
        if target is not None:
            info["target"] = target
        return info


def make_popgym(task: str, level: str) -> POPGymTarget:
    """POPGym's ``{task}{level}`` env wrapped in ``POPGymTarget``."""
    if task not in TASKS or level not in LEVELS:
        raise ValueError(
            f"no POPGym adapter for {task!r}, {level!r}; tasks {tuple(TASKS)}, levels {LEVELS}"
        )
    return POPGymTarget(getattr(TASKS[task], f"{task}{level}")())
