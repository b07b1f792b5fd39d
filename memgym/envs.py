"""Gymnasium environments of the memory tasks, POPGym style: the agent predicts the system.

The observation is the system's act token ``a_t``; the action is the agent's guess of the
next obs token ``o_{t+1}``. An episode with length parameter ``n`` has ``n + 1`` steps
(``t = 0 … n``); the action at step ``n``, taken after seeing ``[ask]``, is the answer:
reward +1 if right, −1 if wrong, and the episode terminates. Every other step gives 0.
``info["target"]`` (from ``reset`` and every ``step``) is the obs token the next action
must name. The observation returned with termination is ``[end]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memgym.core import integer
from memgym.render import episode_table
from memgym.tasks import (
    AutomatonTask,
    CountTask,
    ModCountTask,
    RememberTask,
    RepeatTask,
    Task,
    TomitaTask,
)

EPISODES_PER_DRAW = 64
"""Episodes the envs sample at once (sampling is vectorised; one at a time would be slow)."""


class MemoryEnv(gym.Env[np.int64, np.int64]):
    """A memory task as a Gymnasium env; subclasses pick the task and its parameters.

    Attributes:
        task: the task (parameters, alphabets, vectorised generator).
        act_tokens: names of the observation values (the system's act tokens).
        obs_tokens: names of the action values (the system's obs tokens).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(self, task: Task, render_mode: str | None = None) -> None:
        # As in Gymnasium's own envs, an unsupported mode is accepted with a warning (so tools
        # that ask every env for "rgb_array", such as SB3's make_vec_env, still work) and
        # render() refuses it.
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            gym.logger.warn(_unsupported_render_mode(render_mode, self.metadata["render_modes"]))
        self.task = task
        self.render_mode = render_mode
        self.act_tokens = task.act_tokens
        self.obs_tokens = task.obs_tokens
        self.observation_space = spaces.Discrete(len(self.act_tokens))
        self.action_space = spaces.Discrete(len(self.obs_tokens))
        self._core = task.core()
        self._n = -1
        self._t = 0
        self._done = True
        self._acts: list[int] = []
        self._obs: list[int] = []
        self._guesses: list[int] = []
        self._draws: list[tuple[list[int], int]] = []
        self._drawn = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        """Start the next episode; return ``a_0`` and ``{"target": o_1}``.

        ``seed`` must be a non-negative integer (``int`` or NumPy) or None and ``options``
        empty or None (the task's parameters are ``gym.make`` kwargs); anything else raises
        ``ValueError``.
        Episodes are drawn ``EPISODES_PER_DRAW`` at a time with the task's vectorised
        sampler; ``reset(seed=s)`` starts a fresh draw, so after it the env plays the rows
        of ``batch_rollouts(env_id, EPISODES_PER_DRAW, seed=s)`` in order.
        """
        if seed is not None:
            seed = self._seed(seed)
        if options:
            raise ValueError(
                f"memgym envs take no reset options, got options={options!r}; set the task's "
                "parameters as gym.make kwargs (e.g. n_range)"
            )
        super().reset(seed=seed)
        if seed is not None or self._drawn == len(self._draws):
            acts, lengths = self.task.sample(self.np_random, EPISODES_PER_DRAW)
            self._draws = list(zip(acts.tolist(), lengths.tolist(), strict=True))
            self._drawn = 0
        acts, self._n = self._draws[self._drawn]
        self._drawn += 1
        self._acts = [*acts[: self._n + 1], self.task.end]
        self._t = 0
        self._done = False
        self._core.reset()
        self._obs = [self._core.feed(self._acts[0])]
        self._guesses = []
        return np.int64(self._acts[0]), {"target": self._obs[0]}

    def step(self, action: Any) -> tuple[np.int64, SupportsFloat, bool, bool, dict[str, Any]]:
        """Score the guess of ``o_{t+1}``, then show ``a_{t+1}`` and the next target.

        ``action`` must be an integer scalar in the action space (an ``int``, a NumPy integer or
        a 0-d integer array); a bool, a float such as ``0.0``, an array such as
        ``np.array([0])`` or an integer outside the space raises ``ValueError``.
        """
        if self._done:
            raise RuntimeError(
                "step() called on a finished episode (or before the first reset()); "
                "call reset() to start a new episode"
            )
        guess = self._action(action)
        terminated = self._t == self._n
        reward = (1.0 if guess == self._obs[-1] else -1.0) if terminated else 0.0
        self._guesses.append(guess)
        self._t += 1
        self._done = terminated
        act = self._acts[self._t]
        target = self._core.feed(act)
        self._obs.append(target)
        return np.int64(act), reward, terminated, False, {"target": target}

    @staticmethod
    @staticmethod
    def _seed(seed: Any) -> int:
        needed = "a non-negative integer or None"
        try:
            seed = integer(seed, "seed", needed)
        except TypeError as error:
            raise ValueError(str(error)) from None
        if seed < 0:
            raise ValueError(f"seed must be {needed}, got {seed}")
        return seed

    def _action(self, action: Any) -> int:
        """``action`` as an ``int`` of the action space; ``ValueError`` saying what is needed."""
        if type(action) is int or type(action) is np.int64:  # the common cases, first
            guess = int(action)
        else:
            try:
                guess = integer(action, "action")
            except TypeError:
                guess = None
        if guess is None or not 0 <= guess < len(self.obs_tokens):
            space = self.action_space
            needed = f"an integer scalar in the action space {space} (0 to {space.n - 1})"
            try:
                integer(action, "action", needed)
            except TypeError as error:
                raise ValueError(str(error)) from None
            raise ValueError(f"action must be {needed}, got {guess}")
        return guess

    def get_state(self) -> np.ndarray:
        """The system's hidden state after the acts seen so far (see the core's ``get_state``)."""
        return self._core.get_state()

    def render(self) -> str | None:
        """With ``render_mode="ansi"``: the episode so far as an act/obs/guess table.

        Column ``t`` shows ``a_t``, the obs ``o_t`` the system showed in response to the acts
        before ``t`` (none at ``t = 0``), and the agent's guess of ``o_t``.
        """
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        if self.render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                _unsupported_render_mode(self.render_mode, self.metadata["render_modes"])
            )
        shown = self._t + 1
        return episode_table(
            {
                "act": [self.act_tokens[a] for a in self._acts[:shown]],
                "obs": ["", *(self.obs_tokens[o] for o in self._obs[: shown - 1])],
                "guess": ["", *(self.obs_tokens[g] for g in self._guesses)],
            }
        )


class RememberEnv(MemoryEnv):
    """Remember: the first act is ``[card i]``, then ``[wait]`` × (n−1), then ``[ask]``.

    The answer is ``[card i]``. Observation space ``Discrete(num_cards + 3)`` (act tokens:
    cards, ``[wait]``, ``[ask]``, ``[end]``); action space ``Discrete(num_cards + 2)`` (obs
    tokens: ``[wait]``, ``[end]``, cards). ``n`` is drawn per episode from ``n_range``
    (inclusive).
    """

    def __init__(
        self,
        num_cards: int = 16,
        n_range: Sequence[int] = (16, 64),
        render_mode: str | None = None,
    ) -> None:
        super().__init__(RememberTask(num_cards, n_range), render_mode)


class CountEnv(MemoryEnv):
    """Count: ``n`` bits ``0``/``1``, then ``[ask]``; the answer is the number of ``1`` s.

    Each episode draws ``k`` uniformly in ``0 … min(n, max_ones)`` and places ``k`` ones at
    random positions, so long streams with small answers exist (``max_ones`` defaults to
    ``n_max``). Observation space ``Discrete(4)`` (``0``, ``1``, ``[ask]``, ``[end]``);
    action space ``Discrete(max_ones + 3)`` (``[wait]``, ``[end]``, counts ``0 … max_ones``).
    """

    def __init__(
        self,
        n_range: Sequence[int] = (8, 24),
        max_ones: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(CountTask(n_range, max_ones), render_mode)


class RepeatEnv(MemoryEnv):
    """Repeat: ``n`` random cards, then ``[ask]``; the answer is the card at index ``n − lag``.

    Observation space ``Discrete(num_cards + 2)`` (cards, ``[ask]``, ``[end]``); action space
    ``Discrete(num_cards + 2)`` (``[wait]``, ``[end]``, cards). ``lag`` must be smaller than
    the shortest length in ``n_range``.
    """

    def __init__(
        self,
        num_cards: int = 4,
        lag: int = 4,
        n_range: Sequence[int] = (8, 32),
        render_mode: str | None = None,
    ) -> None:
        super().__init__(RepeatTask(num_cards, lag, n_range), render_mode)


_SECTIONS = """
    ## Rewards
    0 on every step but the last; on the last (the answer step, after ``[ask]``) +1 if the
    action names the answer, −1 otherwise.

    ## Episode End
    Terminates after the answer step (``n + 1`` steps); the observation returned then is
    ``[end]``. Never truncates.
"""


class ModCountEnv(MemoryEnv):
    __doc__ = (
        """ModCount: ``n`` uniform bits ``0``/``1``, then ``[ask]``; the answer is the number of
    ``1`` s modulo ``modulus`` (parity for ``modulus=2``).

    ## Observation Space
    ``Discrete(4)``: the act tokens ``0``, ``1``, ``[ask]``, ``[end]``.

    ## Action Space
    ``Discrete(modulus + 2)``: the guess of the next obs token, ``[wait]``, ``[end]``, then
    the residues ``0 … modulus − 1``.
"""
        + _SECTIONS
        + """
    ## Arguments
    - ``modulus``: at least 2.
    - ``n_range``: ``(n_min, n_max)``, payload lengths drawn uniformly, ``1 ≤ n_min ≤ n_max``.
    - ``render_mode``: ``"ansi"`` or None.
"""
    )

    def __init__(
        self,
        modulus: int = 5,
        n_range: Sequence[int] = (16, 64),
        render_mode: str | None = None,
    ) -> None:
        super().__init__(ModCountTask(modulus, n_range), render_mode)


class TomitaEnv(MemoryEnv):
    __doc__ = (
        """Tomita: ``n`` bits ``0``/``1``, then ``[ask]``; the answer is ``[accept]`` if the bits
    are in Tomita grammar ``grammar``, else ``[reject]``. The answers are equally likely (see
    ``memgym.tasks.TomitaTask``). The grammars: 1 ``1*``; 2 ``(10)*``; 3 no odd-length block
    of ``1`` s followed later by an odd-length block of ``0`` s; 4 no ``000``; 5 an even number
    of ``0`` s and of ``1`` s; 6 ``#0 − #1`` divisible by 3; 7 ``0*1*0*1*``.

    ## Observation Space
    ``Discrete(4)``: the act tokens ``0``, ``1``, ``[ask]``, ``[end]``.

    ## Action Space
    ``Discrete(4)``: the guess of the next obs token, ``[wait]``, ``[end]``, ``[accept]``,
    ``[reject]``.
"""
        + _SECTIONS
        + """
    ## Arguments
    - ``grammar``: 1 … 7.
    - ``n_range``: ``(n_min, n_max)``, payload lengths, ``1 ≤ n_min ≤ n_max``.
    - ``render_mode``: ``"ansi"`` or None.
"""
    )

    def __init__(
        self,
        grammar: int = 3,
        n_range: Sequence[int] = (4, 32),
        render_mode: str | None = None,
    ) -> None:
        super().__init__(TomitaTask(grammar, n_range), render_mode)


class AutomatonEnv(MemoryEnv):
    __doc__ = (
        """Automaton: a random minimal Moore machine reads ``n`` uniform symbols, then ``[ask]``;
    the answer is the output of the state reached. The machine is drawn from ``machine_seed``
    (``env.unwrapped.task.transitions`` and ``.outputs``; state 0 is initial).

    ## Observation Space
    ``Discrete(num_symbols + 2)``: ``[symbol 0]`` … ``[symbol K−1]``, ``[ask]``, ``[end]``.

    ## Action Space
    ``Discrete(num_outputs + 2)``: the guess of the next obs token, ``[wait]``, ``[end]``,
    ``[output 0]`` … ``[output M−1]``.
"""
        + _SECTIONS
        + """
    ## Arguments
    - ``num_states``: at least 2; every state is reachable and no two are equivalent.
    - ``num_symbols``: at least 1.
    - ``num_outputs``: at least 2.
    - ``machine_seed``: integer seed of the machine (not of the episodes).
    - ``n_range``: ``(n_min, n_max)``, payload lengths, ``1 ≤ n_min ≤ n_max``.
    - ``render_mode``: ``"ansi"`` or None.
"""
    )

    def __init__(
        self,
        num_states: int = 32,
        num_symbols: int = 4,
        num_outputs: int = 4,
        machine_seed: int = 0,
        n_range: Sequence[int] = (16, 64),
        render_mode: str | None = None,
    ) -> None:
        task = AutomatonTask(num_states, num_symbols, num_outputs, machine_seed, n_range)
        super().__init__(task, render_mode)


def _unsupported_render_mode(render_mode: str, supported: list[str]) -> str:
    return f"render_mode={render_mode!r} is not supported; choose one of {supported} or None"
