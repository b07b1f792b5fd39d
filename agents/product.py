"""Breadth-first search over the states an automaton reaches, alone or beside a reference machine.

With a reference Moore machine (``transitions (S, V_act)``, ``outputs (S,)`` with −1 where no
obs token is shown, ``initial``), the search runs the product: pairs (reference state,
automaton state) from (``initial``, ``x0``), following only valid continuations, those whose
next reference state shows an obs token (output ≥ 0; the sink shows −1). Without one, it
follows every act token from ``x0``. Each level is expanded at once: every frontier state
times every act token by one boolean matrix product (:meth:`Automaton.successors`), and states
are compared as packed bit rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agents.automaton import Automaton, void_rows

CHUNK = 4096
"""Frontier states expanded by one matrix product."""


class MooreReference(Protocol):
    """What the search reads of a reference Moore machine (``memgym.reference``'s machines)."""

    transitions: np.ndarray  # (S, V_act) int64
    outputs: np.ndarray  # (S,) int64, −1 where no obs token is shown
    initial: int
    act_tokens: tuple[str, ...]
    obs_tokens: tuple[str, ...]


@dataclass(frozen=True)
class Product:
    """The states a search reached, numbered in breadth-first order (0 is the start).

    ``reference_states`` ``(N,)`` (all 0 without a reference), ``states`` bool ``(N, D)``,
    ``parents`` and ``tokens`` ``(N,)`` (how each state was first reached; −1 for the start),
    ``predicted`` ``(N,)`` (the automaton's named obs token, or MISS), ``expected`` ``(N,)``
    (the reference's output, −1 where none is shown or without a reference), ``edges``
    ``(E, 3)`` rows (state, act token, next state) over the valid continuations, and
    ``num_tokens`` act tokens. ``complete`` is False when the search stopped at its state
    budget or at a mismatch before reaching every state; ``mismatch`` is the first state whose
    prediction differs from the reference's output (None if none was met).
    """

    reference_states: np.ndarray
    states: np.ndarray
    parents: np.ndarray
    tokens: np.ndarray
    predicted: np.ndarray
    expected: np.ndarray
    edges: np.ndarray
    num_tokens: int
    complete: bool
    mismatch: int | None

    def __len__(self) -> int:
        return len(self.parents)

    def stream(self, state: int) -> list[int]:
        """The act tokens of a shortest stream from the start to ``state``."""
        tokens = []
        while self.parents[state] >= 0:
            tokens.append(int(self.tokens[state]))
            state = int(self.parents[state])
        return tokens[::-1]

    def transitions(self) -> np.ndarray:
        """``(N, V_act)`` int64: the next state after each act token, −1 where the
        continuation is invalid (or, in an incomplete search, not followed)."""
        table = np.full((len(self), self.num_tokens), -1, dtype=np.int64)
        table[self.edges[:, 0], self.edges[:, 1]] = self.edges[:, 2]
        return table


def explore(
    automaton: Automaton,
    reference: MooreReference | None = None,
    *,
    max_states: int = 1_000_000,
    stop_at_mismatch: bool = False,
    episode_end: str | None = None,
) -> Product:
    """Breadth-first search from (``reference.initial``, ``x0``) (or from ``x0`` alone) until
    every reachable state is found, ``max_states`` states are reached, or, with
    ``stop_at_mismatch``, the first level holding a state whose prediction differs from the
    reference (then the mismatch's stream is a shortest one). With a reference,
    ``episode_end`` names an act token that ends the episode: no stream is followed past it
    (rollouts mask those steps out). Raises ValueError when the reference's act or obs
    tokens do not fit the automaton's, or it has no act token ``episode_end``."""
    if max_states < 1:
        raise ValueError(f"max_states must be at least 1, got {max_states}")
    num_tokens, width = automaton.A.shape[0], automaton.A.shape[1]
    if reference is None:
        ref_next = np.zeros((1, num_tokens), dtype=np.int64)
        valid = np.ones((1, num_tokens), dtype=bool)
        ref_out, initial = np.full(1, -1, dtype=np.int64), 0
    else:
        ref_next, ref_out = np.asarray(reference.transitions), np.asarray(reference.outputs)
        _check_reference(automaton, ref_next, ref_out)
        valid, initial = ref_out[ref_next] != -1, int(reference.initial)
        if episode_end is not None:
            valid[:, _token_id(reference.act_tokens, episode_end)] = False
    start = automaton.x0[None]
    found = _Found(initial, start, automaton, ref_out)
    level = (np.array([initial]), start)
    stopped = stop_at_mismatch and found.mismatch is not None
    while len(level[0]) and not stopped:
        next_level = []
        for lo in range(0, len(level[0]), CHUNK):
            refs, states = level[0][lo : lo + CHUNK], level[1][lo : lo + CHUNK]
            src, tok = np.nonzero(valid[refs])
            next_refs = ref_next[refs[src], tok]
            used = np.unique(tok)
            next_states = automaton.successors(states, used)[src, np.searchsorted(used, tok)]
            sources = found.level_start + lo + src
            new = found.add(next_refs, next_states, sources, tok, max_states - len(found))
            next_level.append(new)
            stopped = found.truncated or (stop_at_mismatch and found.mismatch is not None)
            if stopped:
                break
        if stopped:
            break
        found.level_start += len(level[0])
        level = (
            np.concatenate([refs for refs, _ in next_level]),
            np.concatenate([states for _, states in next_level]),
        )
    return found.product(num_tokens, width, complete=not stopped)


class _Found:
    """The states found so far, with a sorted index of their keys (reference state and packed
    automaton state) for look-ups."""

    def __init__(
        self, initial: int, start: np.ndarray, automaton: Automaton, ref_out: np.ndarray
    ) -> None:
        self.automaton, self.ref_out = automaton, ref_out
        self.keys = _keys(np.array([initial]), start)
        self.ids = np.zeros(1, dtype=np.int64)
        self.refs, self.states = [np.array([initial])], [np.packbits(start, axis=1)]
        self.parents, self.tokens = [np.array([-1])], [np.array([-1])]
        self.predicted = [automaton.predict(start)]
        self.expected = [ref_out[[initial]]]
        self.edges: list[np.ndarray] = []
        self.count, self.level_start, self.truncated = 1, 0, False
        self.mismatch = self._first_mismatch(self.predicted[0], self.expected[0], 0)

    def __len__(self) -> int:
        return self.count

    def add(
        self,
        refs: np.ndarray,
        states: np.ndarray,
        sources: np.ndarray,
        tokens: np.ndarray,
        room: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Record the transitions ``sources --tokens--> (refs, states)``; number the states
        not seen before (at most ``room`` of them, in order of first appearance) and return
        them, as (reference states, bool states)."""
        keys = _keys(refs, states)
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        pos = np.searchsorted(self.keys, unique)
        seen = pos < len(self.keys)
        seen[seen] = self.keys[pos[seen]] == unique[seen]
        ids = np.full(len(unique), -1, dtype=np.int64)
        ids[seen] = self.ids[pos[seen]]
        new = np.flatnonzero(~seen)
        new = new[np.argsort(first[new], kind="stable")]
        if len(new) > room:
            new, self.truncated = new[:room], True
        ids[new] = np.arange(self.count, self.count + len(new))
        by_key = np.sort(new)
        self.keys = np.insert(self.keys, pos[by_key], unique[by_key])
        self.ids = np.insert(self.ids, pos[by_key], ids[by_key])
        rows = first[new]
        new_refs, new_states = refs[rows], states[rows]
        predicted, expected = self.automaton.predict(new_states), self.ref_out[new_refs]
        if self.mismatch is None:
            self.mismatch = self._first_mismatch(predicted, expected, self.count)
        self.refs.append(new_refs)
        self.states.append(np.packbits(new_states, axis=1))
        self.parents.append(sources[rows])
        self.tokens.append(tokens[rows])
        self.predicted.append(predicted)
        self.expected.append(expected)
        targets = ids[inverse]
        kept = targets >= 0
        self.edges.append(np.stack([sources[kept], tokens[kept], targets[kept]], axis=1))
        self.count += len(new)
        return new_refs, new_states

    @staticmethod
    def _first_mismatch(predicted: np.ndarray, expected: np.ndarray, offset: int) -> int | None:
        wrong = np.flatnonzero((expected >= 0) & (predicted != expected))
        return int(offset + wrong[0]) if len(wrong) else None

    def product(self, num_tokens: int, width: int, complete: bool) -> Product:
        """The search's result."""
        edges = np.concatenate([np.zeros((0, 3), dtype=np.int64), *self.edges])
        states = np.unpackbits(np.concatenate(self.states), axis=1, count=width)
        return Product(
            reference_states=np.concatenate(self.refs),
            states=states.astype(bool),
            parents=np.concatenate(self.parents),
            tokens=np.concatenate(self.tokens),
            predicted=np.concatenate(self.predicted),
            expected=np.concatenate(self.expected),
            edges=edges.astype(np.int64),
            num_tokens=num_tokens,
            complete=complete,
            mismatch=self.mismatch,
        )


def _keys(refs: np.ndarray, states: np.ndarray) -> np.ndarray:
    """One opaque value per (reference state, bool automaton state) pair."""
    ref_bytes = refs.astype(">i8").view(np.uint8).reshape(len(refs), 8)
    return void_rows(np.concatenate([ref_bytes, np.packbits(states, axis=1)], axis=1))


def _token_id(act_tokens: tuple[str, ...], name: str) -> int:
    if name not in act_tokens:
        raise ValueError(
            f"episode_end={name!r} is not an act token of the reference machine "
            f"({', '.join(act_tokens)}); pass None to follow every valid continuation"
        )
    return act_tokens.index(name)


def _check_reference(automaton: Automaton, transitions: np.ndarray, outputs: np.ndarray) -> None:
    num_act, num_obs = automaton.A.shape[0], automaton.C.shape[0]
    if transitions.ndim != 2 or transitions.shape[1] != num_act:
        raise ValueError(
            f"the reference machine has transitions of shape {transitions.shape} but the "
            f"automaton reads {num_act} act tokens: (S, {num_act}) is needed"
        )
    if outputs.shape != (len(transitions),) or outputs.max(initial=-1) >= num_obs:
        raise ValueError(
            f"the reference machine's outputs (shape {outputs.shape}, largest "
            f"{outputs.max(initial=-1)}) do not fit its {len(transitions)} states and the "
            f"automaton's {num_obs} obs tokens"
        )
