"""``memgym.reference``: the exact reference Moore machine of any memgym env id.

The machine reads act token ids and shows obs token ids: for every valid episode of the env,
``reference(env_id).run(act)`` equals ``target`` at every step, the ``[end]`` padding
included; any continuation the env never produces leads to a sink that shows −1. It is the
minimal such machine: it counts the payload length (so ``[ask]`` before ``n_min`` or a payload
longer than ``n_max`` is invalid) besides the task's own state. State counts per preset are
listed in docs/reference.md.
"""

from __future__ import annotations

from typing import Any

from memgym.machine import DEFAULT_MAX_STATES, ReferenceMachine, TooManyStates
from memgym.presets import memgym_task

__all__ = ["DEFAULT_MAX_STATES", "ReferenceMachine", "TooManyStates", "reference"]


def reference(
    env_id: str, max_states: int = DEFAULT_MAX_STATES, every_length: bool = False, **env_kwargs: Any
) -> ReferenceMachine:
    """The minimal reference Moore machine of ``env_id`` with ``env_kwargs`` (as ``gym.make``).

    With ``every_length`` the machine accepts payloads of every length from ``n_min`` on, not
    only up to ``n_max``: it counts the length up to ``n_min`` only, so it is smaller (RepeatEasy:
    29 states against 209), and a proof against it holds for act streams of any length.

    Raises ``ValueError`` for an id that is not a memgym env, and ``TooManyStates`` (a
    ``ValueError``) when building it would visit more than ``max_states`` states: RepeatHard
    (8 cards, lag 8, payloads up to 64) needs about 9.6e8 before minimisation, so it raises
    at the default budget of 1,000,000.
    """
    task = memgym_task(env_id, **env_kwargs)
    if task is None:
        raise ValueError(f"memgym.reference needs a memgym env id, got {env_id!r}")
    return task.reference(max_states, every_length)
