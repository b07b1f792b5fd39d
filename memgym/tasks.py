"""Task parameters and the vectorised episode generator shared by the envs and the rollouts.

A task checks its parameters, names its tokens (through its core) and builds whole
batches of act streams with NumPy: ``sample`` draws episodes, ``enumerate`` lists every
episode of one length, and ``answers`` reads each episode's answer off its act stream.
Episodes with length parameter ``n`` have ``n + 1`` act tokens (the last is ``[ask]``); a
batch is a ``(B, T)`` grid with ``T = max n + 1``, padded with ``[end]``.
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from memgym.core import OBS_ANSWER, Core, CountCore, RememberCore, RepeatCore, integer
from memgym.machine import DEFAULT_MAX_STATES, PayloadSystem, ReferenceMachine, framed_reference


def _check_n_range(n_range: Sequence[int]) -> tuple[int, int]:
    try:
        n_min, n_max = n_range
    except (TypeError, ValueError):
        raise ValueError(
            f"n_range must be a pair (n_min, n_max) of episode lengths, got {n_range!r}"
        ) from None
    n_min, n_max = integer(n_min, "n_range[0]"), integer(n_max, "n_range[1]")
    if n_min > n_max:
        raise ValueError(f"n_range {n_range!r} is empty: n_min={n_min} > n_max={n_max}")
    if n_min < 1:
        raise ValueError(f"n_range {n_range!r} must have n_min >= 1, got n_min={n_min}")
    return n_min, n_max


def _check_num_cards(num_cards: int) -> int:
    num_cards = integer(num_cards, "num_cards")
    if num_cards < 1:
        raise ValueError(f"num_cards must be at least 1 (no cards to deal), got {num_cards}")
    return num_cards


class Task(abc.ABC):
    """Base class: length range, alphabets, and the shared framing of act grids."""

    def __init__(self, n_range: Sequence[int]) -> None:
        self.n_min, self.n_max = _check_n_range(n_range)
        core = self.core()
        self.act_tokens: tuple[str, ...] = core.act_tokens
        self.obs_tokens: tuple[str, ...] = core.obs_tokens
        self.ask, self.end = core.ask, core.end
        self.dtype = np.min_scalar_type(len(self.act_tokens))

    @abc.abstractmethod
    def core(self) -> Core:
        """A fresh core of this task."""

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this task (and its env)."""

    @abc.abstractmethod
    def _body(self, rng: np.random.Generator, n: np.ndarray, steps: int) -> np.ndarray:
        """Random payload tokens, ``(B, steps)``; only columns ``t < n`` are used."""

    @abc.abstractmethod
    def answers(self, act: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Answer (as an obs token) of each act stream in the ``(B, T)`` grid."""

    @abc.abstractmethod
    def _all_bodies(self, n: int) -> np.ndarray:
        """Every payload of length ``n`` as ``(N, n + 1)``."""

    @abc.abstractmethod
    def num_episodes(self, n: int) -> int:
        """How many distinct episodes have length parameter ``n``."""

    @abc.abstractmethod
    def payload_system(self) -> PayloadSystem:
        """The task's system on payload tokens (see ``memgym.machine.PayloadSystem``)."""

    def reference(self, max_states: int = DEFAULT_MAX_STATES) -> ReferenceMachine:
        """The task's minimal reference Moore machine over its valid episodes.

        Raises ``TooManyStates`` (a ``ValueError``) past ``max_states`` states.
        """
        return framed_reference(
            self.payload_system(),
            (self.n_min, self.n_max),
            self.act_tokens,
            self.obs_tokens,
            max_states,
        )

    def check_length(self, n: int) -> int:
        """Validate a single length parameter ``n`` for this task."""
        n = integer(n, "n")
        if n < 1:
            raise ValueError(f"episode length n must be at least 1, got {n}")
        return n

    def frame(self, body: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Act grid: the payload at ``t < n``, ``[ask]`` at ``t = n``, ``[end]`` after."""
        t = np.arange(body.shape[1])
        act = np.where(t < n[:, None], body, self.dtype.type(self.end))
        act[np.arange(len(n)), n] = self.ask
        return act

    def sample_lengths(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """Length parameters ``n``, uniform in ``[n_min, n_max]``."""
        return rng.integers(self.n_min, self.n_max + 1, size=batch_size)

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch_size`` episodes: act grid ``(B, max n + 1)`` and lengths ``n``."""
        n = self.sample_lengths(rng, batch_size)
        return self.frame(self._body(rng, n, int(n.max()) + 1), n), n

    def enumerate(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Every episode with length parameter ``n``: act grid ``(N, n + 1)`` and lengths."""
        n = self.check_length(n)
        body = self._all_bodies(n)
        lengths = np.full(len(body), n)
        return self.frame(body, lengths), lengths


class RememberTask(Task):
    """Remember one of ``num_cards`` cards across ``n − 1`` waits."""

    def __init__(self, num_cards: int, n_range: Sequence[int]) -> None:
        self.num_cards = _check_num_cards(num_cards)
        super().__init__(n_range)

    def core(self) -> RememberCore:
        """A fresh core of this task."""
        return RememberCore(self.num_cards)

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this task (and its env)."""
        return {"num_cards": self.num_cards, "n_range": (self.n_min, self.n_max)}

    def payload_system(self) -> PayloadSystem:
        """State 0 before the card, ``1 + i`` holding card ``i`` (then only waits are valid)."""
        wait = self.num_cards

        def step(states: np.ndarray, token: int) -> np.ndarray:
            if token == wait:
                return np.where(states > 0, states, -1)
            return np.where(states == 0, 1 + token, -1)

        def answer(states: np.ndarray) -> np.ndarray:
            return np.where(states > 0, OBS_ANSWER + states - 1, -1)

        return PayloadSystem(0, step, answer)

    def _body(self, rng: np.random.Generator, n: np.ndarray, steps: int) -> np.ndarray:
        cards = rng.integers(0, self.num_cards, size=(len(n), 1), dtype=self.dtype)
        return np.where(np.arange(steps) == 0, cards, self.dtype.type(self.num_cards))

    def answers(self, act: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Answer (as an obs token) of each act stream in the ``(B, T)`` grid."""
        return act[:, 0] + OBS_ANSWER

    def _all_bodies(self, n: int) -> np.ndarray:
        cards = np.arange(self.num_cards, dtype=self.dtype)[:, None]
        return np.where(np.arange(n + 1) == 0, cards, self.dtype.type(self.num_cards))

    def num_episodes(self, n: int) -> int:
        """How many distinct episodes have length parameter ``n``."""
        return self.num_cards


class CountTask(Task):
    """Count the ``1`` s in a stream of ``n`` bits, with at most ``max_ones`` of them."""

    def __init__(self, n_range: Sequence[int], max_ones: int | None = None) -> None:
        _, n_max = _check_n_range(n_range)
        if max_ones is None:
            max_ones = n_max
        self.max_ones = integer(max_ones, "max_ones")
        if self.max_ones < 0:
            raise ValueError(f"max_ones must be a non-negative integer, got {max_ones}")
        super().__init__(n_range)

    def core(self) -> CountCore:
        """A fresh core of this task."""
        return CountCore(self.max_ones)

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this task (and its env)."""
        return {"n_range": (self.n_min, self.n_max), "max_ones": self.max_ones}

    def payload_system(self) -> PayloadSystem:
        """The state is the number of ``1`` s so far; a ``1`` past ``max_ones`` is invalid."""

        def step(states: np.ndarray, token: int) -> np.ndarray:
            if token == 0:
                return states
            return np.where(states < self.max_ones, states + 1, -1)

        return PayloadSystem(0, step, lambda states: OBS_ANSWER + states)

    def _body(self, rng: np.random.Generator, n: np.ndarray, steps: int) -> np.ndarray:
        # k ones, k uniform in 0..min(n, max_ones), at the k smallest of n random keys.
        ones = rng.integers(0, np.minimum(n, self.max_ones) + 1)
        keys = rng.random((len(n), steps))
        keys[np.arange(steps) >= n[:, None]] = np.inf
        threshold = np.sort(keys, axis=1)[np.arange(len(n)), ones]
        return (keys < threshold[:, None]).astype(self.dtype)

    def answers(self, act: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Answer (as an obs token) of each act stream in the ``(B, T)`` grid."""
        return np.count_nonzero(act == 1, axis=1) + OBS_ANSWER

    def _all_bodies(self, n: int) -> np.ndarray:
        blocks = []
        for k in range(min(n, self.max_ones) + 1):
            count = math.comb(n, k)
            ones = itertools.chain.from_iterable(itertools.combinations(range(n), k))
            where = np.fromiter(ones, dtype=np.intp, count=count * k).reshape(count, k)
            block = np.zeros((count, n + 1), dtype=self.dtype)
            block[np.arange(count)[:, None], where] = 1
            blocks.append(block)
        return np.concatenate(blocks)

    def num_episodes(self, n: int) -> int:
        """How many distinct episodes have length parameter ``n``."""
        return sum(math.comb(n, k) for k in range(min(n, self.max_ones) + 1))


class RepeatTask(Task):
    """Repeat the card dealt ``lag`` places before ``[ask]``, out of ``num_cards`` cards."""

    def __init__(self, num_cards: int, lag: int, n_range: Sequence[int]) -> None:
        self.num_cards = _check_num_cards(num_cards)
        self.lag = integer(lag, "lag")
        n_min, _ = _check_n_range(n_range)
        if self.lag < 1:
            raise ValueError(f"lag must be at least 1, got {lag}")
        if self.lag >= n_min:
            raise ValueError(
                f"lag={lag} must be smaller than the shortest episode length n_min={n_min}"
            )
        super().__init__(n_range)

    def core(self) -> RepeatCore:
        """A fresh core of this task."""
        return RepeatCore(self.num_cards, self.lag)

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this task (and its env)."""
        return {"num_cards": self.num_cards, "lag": self.lag, "n_range": (self.n_min, self.n_max)}

    def check_length(self, n: int) -> int:
        """Validate a single length parameter ``n`` (it must exceed the lag)."""
        n = super().check_length(n)
        if n <= self.lag:
            raise ValueError(f"episode length n={n} must exceed lag={self.lag}")
        return n

    def payload_system(self) -> PayloadSystem:
        """A shift register of the last ``lag`` cards, base ``num_cards + 1`` (digit 0: none).

        The oldest card is the most significant digit.
        """
        base = self.num_cards + 1
        top = base ** (self.lag - 1)

        def step(states: np.ndarray, token: int) -> np.ndarray:
            return states % top * base + token + 1

        def answer(states: np.ndarray) -> np.ndarray:
            oldest = states // top
            return np.where(oldest > 0, OBS_ANSWER + oldest - 1, -1)

        return PayloadSystem(0, step, answer)

    def _body(self, rng: np.random.Generator, n: np.ndarray, steps: int) -> np.ndarray:
        return rng.integers(0, self.num_cards, size=(len(n), steps), dtype=self.dtype)

    def answers(self, act: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Answer (as an obs token) of each act stream in the ``(B, T)`` grid."""
        return act[np.arange(len(n)), n - self.lag] + OBS_ANSWER

    def _all_bodies(self, n: int) -> np.ndarray:
        codes = np.arange(self.num_cards**n, dtype=np.int64)[:, None]
        digits = codes // self.num_cards ** np.arange(n - 1, -1, -1) % self.num_cards
        return np.pad(digits.astype(self.dtype), ((0, 0), (0, 1)))

    def num_episodes(self, n: int) -> int:
        """How many distinct episodes have length parameter ``n``."""
        return self.num_cards**n
