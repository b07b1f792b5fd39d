"""Deterministic task cores: the systems of the memory tasks, one act token at a time.

A core starts in a fixed state. ``feed(act)`` moves it to its next state and returns the obs
token that state shows; ``get_state()`` reads the hidden state (as POPGym's ``get_state``).
Each core owns its token alphabet. Act tokens keep the payload first and end with
``[ask]``, ``[end]``; obs tokens start with ``[wait]``, ``[end]`` and then the answers, so
``OBS_WAIT == 0`` and ``OBS_END == 1`` for every task and an answer ``x`` is obs ``x + 2``.

The cores accept exactly the valid act streams of their task, followed by any number of
``[end]`` tokens; any other token raises ``ValueError``.
"""

from __future__ import annotations

import abc
import operator
from typing import Any

import numpy as np

from memgym.machine import PayloadSystem

OBS_WAIT = 0
OBS_END = 1
OBS_ANSWER = 2


def card_names(num_cards: int) -> tuple[str, ...]:
    """Token names ``[card 0]`` … ``[card c-1]``."""
    return tuple(f"[card {i}]" for i in range(num_cards))


def obs_names(answers: tuple[str, ...]) -> tuple[str, ...]:
    """Obs alphabet: ``[wait]``, ``[end]``, then the answer tokens."""
    return ("[wait]", "[end]", *answers)


def integer(value: Any, name: str, needed: str = "an integer scalar") -> int:
    """``value`` as a Python ``int``: an ``int``, a NumPy integer or a 0-d integer array.

    Raises ``TypeError`` ("``name`` must be ``needed``, got ...", naming what was given) for
    anything else: bools (``True`` is not the integer 1 here), floats such as ``0.0``,
    strings, ``None``, and arrays of any shape but ``()`` such as ``np.array([0])``.
    """
    if type(value) is int:  # the common case, first
        return value
    if isinstance(value, (bool, np.bool_)) or getattr(value, "dtype", None) == np.bool_:
        raise TypeError(f"{name} must be {needed}, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        if isinstance(value, np.ndarray):
            given = f"an array of shape {value.shape} and dtype {value.dtype}"
        else:
            given = f"a {type(value).__name__}"
        raise TypeError(f"{name} must be {needed}, got {given}: {value!r}") from None


class Core(abc.ABC):
    """Shared bookkeeping of a core: the alphabets and whether the answer was shown."""

    act_tokens: tuple[str, ...]
    obs_tokens: tuple[str, ...]

    def __init__(self) -> None:
        self.ask = len(self.act_tokens) - 2
        self.end = len(self.act_tokens) - 1
        self.answered = False

    def reset(self) -> None:
        """Return to the fixed initial state."""
        self.answered = False

    def feed(self, act: int) -> int:
        """Read one act token, return the obs token of the next state.

        Raises ``TypeError`` when ``act`` is not an integer scalar (:func:`integer`) and
        ``ValueError`` when it is not a valid continuation of the stream read so far.
        """
        return self._next(act if type(act) is int else integer(act, "act token"))

    @abc.abstractmethod
    def _next(self, act: int) -> int:
        """:meth:`feed` for a checked ``int``."""

    @abc.abstractmethod
    def get_state(self) -> np.ndarray:
        """The hidden state as an int64 array."""

    def _invalid(self, act: int) -> ValueError:
        name = self.act_tokens[act] if 0 <= act < len(self.act_tokens) else repr(act)
        return ValueError(f"act token {name} is not a valid continuation of the stream")

    def _after_answer(self, act: int) -> int:
        if act != self.end:
            raise self._invalid(act)
        return OBS_END


class RememberCore(Core):
    """Remember: ``[card i]``, ``[wait]`` × (n−1), ``[ask]`` → shows ``[card i]``."""

    def __init__(self, num_cards: int) -> None:
        self.act_tokens = (*card_names(num_cards), "[wait]", "[ask]", "[end]")
        self.obs_tokens = obs_names(card_names(num_cards))
        self.wait = num_cards
        super().__init__()
        self.card = -1

    def reset(self) -> None:
        """Return to the fixed initial state (no card held)."""
        super().reset()
        self.card = -1

    def _next(self, act: int) -> int:
        if self.answered:
            return self._after_answer(act)
        if self.card < 0 and 0 <= act < self.wait:
            self.card = act
            return OBS_WAIT
        if self.card >= 0 and act == self.wait:
            return OBS_WAIT
        if self.card >= 0 and act == self.ask:
            self.answered = True
            return OBS_ANSWER + self.card
        raise self._invalid(act)

    def get_state(self) -> np.ndarray:
        """``[held card (−1 before the first token), answered]``."""
        return np.array([self.card, self.answered], dtype=np.int64)


class CountCore(Core):
    """Count: bits ``0``/``1``, then ``[ask]`` → shows the number of ``1`` s (≤ ``max_ones``)."""

    def __init__(self, max_ones: int) -> None:
        self.act_tokens = ("0", "1", "[ask]", "[end]")
        self.obs_tokens = obs_names(tuple(str(k) for k in range(max_ones + 1)))
        self.max_ones = max_ones
        super().__init__()
        self.ones = 0
        self.length = 0

    def reset(self) -> None:
        """Return to the fixed initial state (nothing counted)."""
        super().reset()
        self.ones = 0
        self.length = 0

    def _next(self, act: int) -> int:
        if self.answered:
            return self._after_answer(act)
        if act == 0 or (act == 1 and self.ones < self.max_ones):
            self.ones += act
            self.length += 1
            return OBS_WAIT
        if act == self.ask and self.length > 0:
            self.answered = True
            return OBS_ANSWER + self.ones
        raise self._invalid(act)

    def get_state(self) -> np.ndarray:
        """``[ones counted, answered]``."""
        return np.array([self.ones, self.answered], dtype=np.int64)


class RepeatCore(Core):
    """Repeat: cards, then ``[ask]`` → shows the card ``lag`` places before ``[ask]``."""

    def __init__(self, num_cards: int, lag: int) -> None:
        self.act_tokens = (*card_names(num_cards), "[ask]", "[end]")
        self.obs_tokens = obs_names(card_names(num_cards))
        self.lag = lag
        super().__init__()
        self.recent: list[int] = [-1] * lag

    def reset(self) -> None:
        """Return to the fixed initial state (an empty shift register)."""
        super().reset()
        self.recent = [-1] * self.lag

    def _next(self, act: int) -> int:
        if self.answered:
            return self._after_answer(act)
        if 0 <= act < self.ask:
            self.recent.append(act)
            del self.recent[0]
            return OBS_WAIT
        if act == self.ask and self.recent[0] >= 0:
            self.answered = True
            return OBS_ANSWER + self.recent[0]
        raise self._invalid(act)

    def get_state(self) -> np.ndarray:
        """``[card lag places back, …, latest card (−1 for none yet), answered]``."""
        return np.array([*self.recent, self.answered], dtype=np.int64)


class PayloadCore(Core):
    """A core driven by a task's ``PayloadSystem`` (ModCount, Tomita, Automaton)."""

    def __init__(
        self, act_tokens: tuple[str, ...], obs_tokens: tuple[str, ...], system: PayloadSystem
    ) -> None:
        self.act_tokens = act_tokens
        self.obs_tokens = obs_tokens
        self.system = system
        super().__init__()
        self.state = system.initial
        self.length = 0

    def reset(self) -> None:
        """Return to the fixed initial state (nothing read)."""
        super().reset()
        self.state = self.system.initial
        self.length = 0

    def _next(self, act: int) -> int:
        if self.answered:
            return self._after_answer(act)
        if 0 <= act < self.ask:
            following = int(self.system.step(np.array([self.state]), act)[0])
            if following >= 0:
                self.state = following
                self.length += 1
                return OBS_WAIT
        elif act == self.ask and self.length > 0:
            answer = int(self.system.answer(np.array([self.state]))[0])
            if answer >= 0:
                self.answered = True
                return answer
        raise self._invalid(act)

    def get_state(self) -> np.ndarray:
        """``[state of the task's payload system, answered]``."""
        return np.array([self.state, self.answered], dtype=np.int64)
