"""The episode's observation history as one observation, for stateless features extractors.

SB3 features extractors see one observation at a time, so :class:`TokenHistoryWrapper` makes
that observation the history of the episode so far. It works for any observation space whose
parts are ``Discrete``, 1-D ``MultiDiscrete`` or ``Box`` (a ``Dict`` of them included):

- a token space (``Discrete`` with any ``start``, 1-D ``MultiDiscrete``) becomes a flat
  ``MultiDiscrete`` of ``max_length`` steps, ids shifted to start at 0 (so ``VecNormalize``
  refuses to rescale it unless told to leave it alone);
- a ``Box`` of shape ``S`` becomes a ``Box`` of shape ``(max_length, *S)``;
- ``"length"`` is a ``Discrete(max_length + 1)``: how many steps are valid, 1 to ``max_length``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs

from agents.sb3.tokens import is_token_space, token_radices
from memgym.core import integer

LENGTH_KEY = "length"
HISTORY_KEY = "history"


def stacked_space(space: spaces.Space, max_length: int) -> spaces.Space:
    """The space of ``max_length`` observations of ``space`` (token ids shifted to 0)."""
    if is_token_space(space):
        return spaces.MultiDiscrete(np.tile(token_radices(space), max_length))
    if isinstance(space, spaces.Box):
        low = np.broadcast_to(space.low, (max_length, *space.shape))
        high = np.broadcast_to(space.high, (max_length, *space.shape))
        return spaces.Box(low, high, dtype=space.dtype)
    raise ValueError(
        f"the history holds Discrete, 1-D MultiDiscrete and Box observations (or a Dict of "
        f"them), got {space}"
    )


def step_space(stacked: spaces.Space, max_length: int) -> spaces.Space:
    """The space of one step of a :func:`stacked_space` (the inverse, with ``start`` 0)."""
    if isinstance(stacked, spaces.MultiDiscrete):
        nvec = stacked.nvec.reshape(max_length, -1)[0]
        return spaces.Discrete(int(nvec[0])) if len(nvec) == 1 else spaces.MultiDiscrete(nvec)
    if isinstance(stacked, spaces.Box) and stacked.shape[:1] == (max_length,):
        return spaces.Box(stacked.low[0], stacked.high[0], dtype=stacked.dtype)
    raise ValueError(f"not a history of {max_length} steps: {stacked}")


def history_keys(observation_space: spaces.Space) -> dict[str, str | None]:
    """The history's keys, each with the key of the env's ``Dict`` it holds (``None`` for an
    env whose observation is not a ``Dict``)."""
    if isinstance(observation_space, spaces.Dict):
        return {f"{HISTORY_KEY}_{key}": key for key in observation_space.spaces}
    return {HISTORY_KEY: None}


def _padding(space: spaces.Space) -> np.ndarray:
    """One step of padding: token 0, or the ``Box`` point nearest to 0."""
    if is_token_space(space):
        return np.zeros(len(token_radices(space)), dtype=np.int64)
    return np.clip(np.zeros(space.shape), space.low, space.high).astype(space.dtype)


def _start(space: spaces.Space) -> np.ndarray | int:
    return np.asarray(space.start, dtype=np.int64).reshape(-1) if is_token_space(space) else 0


class TokenHistoryWrapper(gym.ObservationWrapper, RecordConstructorArgs):
    """
    Replace each observation by the episode's history of observations.

    The observation becomes a ``Dict`` with ``"history"`` (or ``"history_<key>"`` for each key
    of a ``Dict`` observation), the observations since the last reset (left-aligned, padded
    with token 0 or the ``Box`` point nearest 0), and ``"length"``, how many are valid. When an
    episode runs longer than ``max_length`` steps, the most recent ``max_length`` are kept.
    ``reset`` clears the history, so the same seed gives the same observation.

    :param env: Environment whose observations are ``Discrete``, 1-D ``MultiDiscrete``,
        ``Box``, or a ``Dict`` of them
    :param max_length: Number of steps the history holds
    :raises ValueError: on another observation space or ``max_length < 1``
    :raises TypeError: when ``max_length`` is not an integer (``memgym.core.integer``)
    """

    def __init__(self, env: gym.Env, max_length: int) -> None:
        RecordConstructorArgs.__init__(self, max_length=max_length)
        gym.ObservationWrapper.__init__(self, env)
        max_length = integer(max_length, "max_length", "a positive integer")
        if max_length < 1:
            raise ValueError(f"max_length must be a positive integer, got {max_length}")
        self.max_length = max_length
        space = env.observation_space
        self._parts = {
            name: (key, space[key] if key is not None else space)
            for name, key in history_keys(space).items()
        }
        if isinstance(space, spaces.Dict) and any(
            isinstance(part, spaces.Dict) for _, part in self._parts.values()
        ):
            raise ValueError(f"nested Dict observations are not supported, got {space}")
        self.observation_space = spaces.Dict(
            {
                **{
                    name: stacked_space(part, max_length) for name, (_, part) in self._parts.items()
                },
                LENGTH_KEY: spaces.Discrete(max_length + 1),
            }
        )
        self._buffers = {
            name: np.stack([_padding(part)] * max_length) for name, (_, part) in self._parts.items()
        }
        self._length = 0

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Clear the history, then reset the environment."""
        for name, (_, part) in self._parts.items():
            self._buffers[name][:] = _padding(part)
        self._length = 0
        return super().reset(**kwargs)

    def observation(self, observation: Any) -> dict[str, np.ndarray]:
        """Append the new observation and return the history."""
        if self._length == self.max_length:
            for buffer in self._buffers.values():
                buffer[:-1] = buffer[1:]
        else:
            self._length += 1
        out = {}
        for name, (key, part) in self._parts.items():
            value = observation[key] if key is not None else observation
            buffer = self._buffers[name]
            buffer[self._length - 1] = np.reshape(value, buffer.shape[1:]) - _start(part)
            out[name] = buffer.reshape(-1).copy() if is_token_space(part) else buffer.copy()
        out[LENGTH_KEY] = np.int64(self._length)
        return out
