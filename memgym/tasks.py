"""Task parameters and the vectorised episode generator shared by the envs and the rollouts.

A task checks its parameters, names its tokens (through its core) and builds whole
batches of act streams with NumPy: ``sample`` draws episodes, ``enumerate`` lists every
episode of one length, and ``answers`` reads each episode's answer off its act stream.
Episodes with length parameter ``n`` have ``n + 1`` act tokens (the last is ``[ask]``); a
batch is a ``(B, T)`` grid with ``T = max n + 1``, padded with ``[end]``.
"""

from __future__ import annotations

import abc
import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from memgym.automata import random_moore_machine, run_to, tomita_dfa
from memgym.core import (
    OBS_ANSWER,
    Core,
    CountCore,
    PayloadCore,
    RememberCore,
    RepeatCore,
    integer,
    obs_names,
)
from memgym.machine import (
    DEFAULT_MAX_STATES,
    PayloadSystem,
    ReferenceMachine,
    every_length_reference,
    framed_reference,
)


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


def _check_at_least(value: Any, name: str, least: int, meaning: str) -> int:
    value = integer(value, name)
    if value < least:
        raise ValueError(f"{name} must be at least {least} ({meaning}), got {value}")
    return value


def _all_strings(num_symbols: int, n: int, dtype: np.dtype) -> np.ndarray:
    """Every string of ``n`` symbols, lexicographic, plus a spare column: ``(K**n, n + 1)``."""
    codes = np.arange(num_symbols**n, dtype=np.int64)[:, None]
    digits = codes // num_symbols ** np.arange(n - 1, -1, -1) % num_symbols
    return np.pad(digits.astype(dtype), ((0, 0), (0, 1)))


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

    def reference(
        self, max_states: int = DEFAULT_MAX_STATES, every_length: bool = False
    ) -> ReferenceMachine:
        """The task's minimal reference Moore machine over its valid episodes; with
        ``every_length``, over episodes of every payload length from ``n_min`` on
        (:func:`~memgym.machine.every_length_reference`).

        Raises ``TooManyStates`` (a ``ValueError``) past ``max_states`` states.
        """
        if every_length:
            return every_length_reference(
                self.payload_system(), self.n_min, self.act_tokens, self.obs_tokens, max_states
            )
        return framed_reference(
            self.payload_system(),
            (self.n_min, self.n_max),
            self.act_tokens,
            self.obs_tokens,
            max_states,
        )

    @property
    def shortest_n(self) -> int:
        """The smallest length parameter ``n`` the task's payload system allows (1): the task
        with ``n_range=(shortest_n, n_max)`` exists."""
        return 1

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

    @property
    def shortest_n(self) -> int:
        """The smallest length parameter the lag allows: ``lag + 1``."""
        return self.lag + 1

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
        return _all_strings(self.num_cards, n, self.dtype)

    def num_episodes(self, n: int) -> int:
        """How many distinct episodes have length parameter ``n``."""
        return self.num_cards**n


class SymbolTask(Task):
    """A task over ``K`` payload symbols, every string of them valid, driven by its payload system.

    Subclasses set ``num_symbols`` and name their tokens in ``_token_names``.
    """

    num_symbols: int

    @abc.abstractmethod
    def _token_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Payload act token names and answer obs token names."""

    def core(self) -> PayloadCore:
        """A fresh core of this task."""
        payload, answers = self._token_names()
        return PayloadCore((*payload, "[ask]", "[end]"), obs_names(answers), self.payload_system())

    def _body(self, rng: np.random.Generator, n: np.ndarray, steps: int) -> np.ndarray:
        return rng.integers(0, self.num_symbols, size=(len(n), steps), dtype=self.dtype)

    def _all_bodies(self, n: int) -> np.ndarray:
        return _all_strings(self.num_symbols, n, self.dtype)

    def num_episodes(self, n: int) -> int:
        """How many distinct episodes have length parameter ``n``."""
        return self.num_symbols**n


class ModCountTask(SymbolTask):
    """Count the ``1`` s in a stream of ``n`` uniform bits, modulo ``modulus``."""

    num_symbols = 2

    def __init__(self, modulus: int, n_range: Sequence[int]) -> None:
        self.modulus = _check_at_least(modulus, "modulus", 2, "modulus 1 has a single answer")
        super().__init__(n_range)

    def _token_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return ("0", "1"), tuple(str(k) for k in range(self.modulus))

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this task (and its env)."""
        return {"modulus": self.modulus, "n_range": (self.n_min, self.n_max)}

    def payload_system(self) -> PayloadSystem:
        """The state is the number of ``1`` s so far modulo ``modulus``."""
        return PayloadSystem(
            0, lambda states, token: (states + token) % self.modulus, lambda q: OBS_ANSWER + q
        )

    def answers(self, act: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Answer (as an obs token) of each act stream in the ``(B, T)`` grid."""
        return np.count_nonzero(act == 1, axis=1) % self.modulus + OBS_ANSWER


@functools.lru_cache(maxsize=64)
def _tomita_chances(grammar: int, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """``(chance, counts)`` for uniform strings of Tomita grammar ``grammar`` with a given answer.

    ``counts[answer, state, r]``: the strings of ``r`` more bits from ``state`` that end with
    ``answer`` (0: accept, 1: reject), rescaled per ``r`` (only ratios and zeros are used);
    ``chance[answer, state, r]``: the chance that the next of those bits is 1.
    """
    dfa, accepting = tomita_dfa(grammar)
    counts = np.zeros((2, len(accepting), n_max + 1))
    counts[0, :, 0] = accepting
    counts[1, :, 0] = ~accepting
    for r in range(1, n_max + 1):
        total = counts[:, dfa, r - 1].sum(axis=2)  # (answer, state)
        counts[:, :, r] = total / np.maximum(total.max(axis=1, keepdims=True), 1e-300)
    ones = counts[:, dfa[:, 1], :-1]
    both = ones + counts[:, dfa[:, 0], :-1]
    chance = np.divide(ones, both, out=np.zeros_like(ones), where=both > 0)
    chance = np.concatenate([np.zeros((2, len(accepting), 1)), chance], axis=2)
    chance.flags.writeable = counts.flags.writeable = False
    return chance, counts


class TomitaTask(SymbolTask):
    """Accept or reject a stream of ``n`` bits by Tomita grammar ``grammar`` (1–7).

    Episodes are drawn so that ``[accept]`` and ``[reject]`` are equally likely: each draws
    the answer first, then ``n`` uniformly among the lengths in ``n_range`` that have a
    string with that answer, then a uniform string of that length and answer. When no length
    in ``n_range`` has a string with some answer, every episode has the other one. (The
    same law is drawn as ``n`` from its marginal, then the answer given ``n``.)
    """

    num_symbols = 2

    def __init__(self, grammar: int, n_range: Sequence[int]) -> None:
        self.grammar = integer(grammar, "grammar")
        self.dfa, self.accepting = tomita_dfa(self.grammar)
        super().__init__(n_range)
        self._choice, self._counts = _tomita_chances(self.grammar, self.n_max)
        # joint[answer, n − n_min]: P(answer, n) when the answer is drawn first (uniform over
        # the answers some length allows), then n uniform over the lengths that allow it.
        possible = self._counts[:, 0, self.n_min : self.n_max + 1] > 0
        sizes = possible.sum(axis=1, keepdims=True)
        joint = np.divide(possible, sizes, out=np.zeros(possible.shape), where=sizes > 0)
        joint /= joint.sum()
        self._length_cdf = np.cumsum(joint.sum(axis=0))
        self._accept_given_length = joint[0] / joint.sum(axis=0).clip(min=1e-300)

    def _token_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return ("0", "1"), ("[accept]", "[reject]")

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this task (and its env)."""
        return {"grammar": self.grammar, "n_range": (self.n_min, self.n_max)}

    def payload_system(self) -> PayloadSystem:
        """The grammar's minimal DFA; ``[ask]`` shows ``[accept]`` or ``[reject]``."""
        return PayloadSystem(
            0,
            lambda states, token: self.dfa[states, token],
            lambda states: np.where(self.accepting[states], OBS_ANSWER, OBS_ANSWER + 1),
        )

    def _strings(
        self, rng: np.random.Generator, n: np.ndarray, answer: np.ndarray, steps: int
    ) -> np.ndarray:
        # One pass over time on (T, B) arrays, with flat look-up tables (np.take, mode="clip":
        # rows past their length read a clipped entry that is never used).
        states, width = self._choice.shape[1:]
        chance, dfa = self._choice.ravel(), self.dfa.ravel()
        body = np.zeros((steps, len(n)), dtype=self.dtype)
        uniform = rng.random((steps, len(n)))
        row = answer * states * width + n
        state = np.zeros(len(n), dtype=np.intp)
        for t in range(int(n.max())):
            bit = uniform[t] < np.take(chance, row + state * width - t, mode="clip")
            body[t] = bit
            state = np.take(dfa, 2 * state + bit)
        return body.T

    def sample_lengths(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """Length parameters ``n`` from their marginal law (see the class docstring)."""
        pick = np.searchsorted(self._length_cdf, rng.random(batch_size) * self._length_cdf[-1])
        return self.n_min + np.minimum(pick, len(self._length_cdf) - 1)

    def _body(self, rng: np.random.Generator, n: np.ndarray, steps: int) -> np.ndarray:
        # the answer given n, then a uniform string of length n with that answer
        reject = rng.random(len(n)) >= self._accept_given_length[n - self.n_min]
        return self._strings(rng, n, reject.astype(np.intp), steps)

    def answers(self, act: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Answer (as an obs token) of each act stream in the ``(B, T)`` grid."""
        accepted = self.accepting[run_to(self.dfa, act, n)]
        return np.where(accepted, OBS_ANSWER, OBS_ANSWER + 1)


class AutomatonTask(SymbolTask):
    """A random minimal Moore machine read on ``n`` uniform symbols; ``[ask]`` shows its output.

    The machine (``num_states`` states, all reachable from state 0, ``num_symbols`` input
    symbols, outputs in ``0 … num_outputs − 1``) is drawn from ``machine_seed``; the same
    seed gives the same machine.
    """

    def __init__(
        self,
        num_states: int,
        num_symbols: int,
        num_outputs: int,
        machine_seed: int,
        n_range: Sequence[int],
    ) -> None:
        self.num_states = _check_at_least(num_states, "num_states", 2, "one state has no memory")
        self.num_symbols = _check_at_least(num_symbols, "num_symbols", 1, "a stream needs symbols")
        self.num_outputs = _check_at_least(
            num_outputs, "num_outputs", 2, "with one output no two states differ"
        )
        self.machine_seed = _check_at_least(machine_seed, "machine_seed", 0, "a NumPy seed")
        self.transitions, self.outputs = random_moore_machine(
            self.num_states, self.num_symbols, self.num_outputs, self.machine_seed
        )
        super().__init__(n_range)

    def _token_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (
            tuple(f"[symbol {i}]" for i in range(self.num_symbols)),
            tuple(f"[output {j}]" for j in range(self.num_outputs)),
        )

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this task (and its env)."""
        return {
            "num_states": self.num_states,
            "num_symbols": self.num_symbols,
            "num_outputs": self.num_outputs,
            "machine_seed": self.machine_seed,
            "n_range": (self.n_min, self.n_max),
        }

    def payload_system(self) -> PayloadSystem:
        """The machine itself; ``[ask]`` shows the output of the state reached."""
        return PayloadSystem(
            0,
            lambda states, token: self.transitions[states, token],
            lambda states: OBS_ANSWER + self.outputs[states],
        )

    def answers(self, act: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Answer (as an obs token) of each act stream in the ``(B, T)`` grid."""
        return OBS_ANSWER + self.outputs[run_to(self.transitions, act, n)]
