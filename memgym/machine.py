"""Reference Moore machines of the tasks: the exact system over act tokens, and how it is built.

A task's episode is a payload of ``n`` tokens (``n`` in ``n_range``), ``[ask]``, then ``[end]``
padding. ``PayloadSystem`` is the small deterministic system a task runs on its payload (Count's
counter, Repeat's shift register, a Tomita DFA); ``framed_reference`` frames it with the episode
form: it tracks the payload length so that only valid episodes are accepted (every invalid
continuation leads to one sink state), and returns the minimal ``ReferenceMachine``.
``every_length_reference`` frames it for payloads of any length from ``n_min`` on: the machine a
proof for every length is checked against. ``refine`` is Moore's partition refinement, the
minimisation both use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OBS_WAIT, OBS_END = 0, 1  # as in memgym.core

DEFAULT_MAX_STATES = 1_000_000
"""States ``framed_reference`` may visit (before minimisation) unless told otherwise."""


@dataclass(frozen=True, eq=False)
class ReferenceMachine:
    """A task's exact Moore machine over act tokens.

    Attributes:
        transitions: int64 ``(S, A)``, the next state per state and act token id.
        outputs: int64 ``(S,)``, the obs token id the state shows, i.e. ``target[t]`` after
            reading ``act[:t+1]``; −1 for the sink (every invalid continuation leads there and
            stays) and for the initial state (no obs precedes the first act).
        initial: the initial state.
        act_tokens, obs_tokens: token names of the act ids (columns) and the obs ids.

    States are numbered in breadth-first order from ``initial`` (token order within a state),
    so equal machines have equal arrays.
    """

    transitions: np.ndarray
    outputs: np.ndarray
    initial: int
    act_tokens: tuple[str, ...]
    obs_tokens: tuple[str, ...]

    @property
    def num_states(self) -> int:
        """Number of states ``S``, the sink included."""
        return len(self.outputs)

    def run(self, act: np.ndarray) -> np.ndarray:
        """Outputs after each token: int64 ``(B, T)`` act ids → int64 ``(B, T)`` obs ids.

        Entry ``[b, t]`` is the output of the state reached after ``act[b, :t+1]``: −1 from the
        first invalid token on. Raises ``ValueError`` for a token id outside ``0 … A−1`` or an
        array that is not 2-D, and ``TypeError`` for one that does not hold integers.
        """
        act = np.asarray(act)
        if not np.issubdtype(act.dtype, np.integer):
            raise TypeError(f"act must be an integer array of act token ids, got {act.dtype}")
        if act.ndim != 2:
            raise ValueError(f"act must be a (B, T) array of act token ids, got shape {act.shape}")
        if act.size and not (act.min() >= 0 and act.max() < len(self.act_tokens)):
            raise ValueError(
                f"act token ids must lie in 0 … {len(self.act_tokens) - 1}, "
                f"got {act.min()} … {act.max()}"
            )
        state = np.full(act.shape[0], self.initial, dtype=np.int64)
        out = np.empty(act.shape, dtype=np.int64)
        for t in range(act.shape[1]):
            state = self.transitions[state, act[:, t]]
            out[:, t] = self.outputs[state]
        return out

    def to_dot(self) -> str:
        """Graphviz DOT text: states labelled by their obs token, edges by act tokens.

        The sink and the edges into it are left out (a missing edge means "invalid"); the
        initial state is drawn as a double circle labelled ``start``.
        """
        sinks = set(np.flatnonzero(self.outputs < 0).tolist()) - {self.initial}
        lines = ["digraph reference {", "  rankdir=LR;", "  node [shape=circle];"]
        for state in range(self.num_states):
            if state in sinks:
                continue
            if state == self.initial:
                lines.append(f'  s{state} [label="start", shape=doublecircle];')
            else:
                label = _dot_escape(self.obs_tokens[self.outputs[state]])
                lines.append(f'  s{state} [label="{label}"];')
        for state in range(self.num_states):
            if state in sinks:
                continue
            edges: dict[int, list[str]] = {}
            for token, target in enumerate(self.transitions[state].tolist()):
                if target not in sinks:
                    edges.setdefault(target, []).append(self.act_tokens[token])
            for target, tokens in edges.items():
                lines.append(f'  s{state} -> s{target} [label="{_dot_escape(", ".join(tokens))}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class PayloadSystem:
    """A task's deterministic system on payload tokens (act ids ``0 … ask−1``).

    Attributes:
        initial: the state before the first token (a non-negative integer code).
        step: ``step(states, token)`` maps int64 ``(N,)`` state codes and one payload token id
            to the ``(N,)`` next codes, −1 where the token is not a valid continuation.
        answer: ``answer(states)`` maps int64 ``(N,)`` codes to the obs token id that
            ``[ask]`` shows there, −1 where ``[ask]`` is not valid.
    """

    initial: int
    step: Callable[[np.ndarray, int], np.ndarray]
    answer: Callable[[np.ndarray], np.ndarray]


class TooManyStates(ValueError):
    """Raised when a reference machine would need more states than ``max_states``."""


def framed_reference(
    system: PayloadSystem,
    n_range: tuple[int, int],
    act_tokens: tuple[str, ...],
    obs_tokens: tuple[str, ...],
    max_states: int = DEFAULT_MAX_STATES,
) -> ReferenceMachine:
    """The minimal Moore machine of the episodes ``payload (n tokens), [ask], [end]…``.

    Valid episodes have ``n_min ≤ n ≤ n_max`` payload tokens that ``system`` accepts and an
    ``[ask]`` that ``system.answer`` accepts; the machine shows ``[wait]`` after each payload
    token, the answer after ``[ask]``, ``[end]`` after each ``[end]``, and −1 (the sink) after
    any other continuation. The last two act tokens must be ``[ask]`` and ``[end]``.

    Raises ``TooManyStates`` (a ``ValueError``) when more than ``max_states`` (payload state,
    length) pairs are reachable, before building them.
    """
    n_min, n_max = n_range
    ask, end = len(act_tokens) - 2, len(act_tokens) - 1
    layers = [np.array([system.initial], dtype=np.int64)]
    total = 1
    for _ in range(n_max):
        reached = np.empty(0, dtype=np.int64)
        for token in range(ask):
            following = system.step(layers[-1], token)
            reached = np.union1d(reached, following[following >= 0])
            if total + len(reached) > max_states:
                raise TooManyStates(
                    f"the reference machine needs more than max_states={max_states:,} states "
                    f"before minimisation (over {total + len(reached):,} reached with payloads "
                    f"of up to {len(layers)} tokens); pass a larger max_states"
                )
        layers.append(reached)
        total += len(reached)
    # Bottom-up classes: a layer state's class is its (output, successor classes) signature,
    # shared across layers; the framing states come first and are already distinct.
    sink, ended = 0, 1
    answered: dict[int, int] = {}
    signatures: dict[bytes, int] = {}
    outputs = [-1, OBS_END]
    rows = [[sink] * len(act_tokens), [sink] * end + [ended]]

    def answer_class(obs: np.ndarray) -> np.ndarray:
        classes = np.full(len(obs), sink, dtype=np.int64)
        for value in np.unique(obs[obs >= 0]).tolist():
            if value not in answered:
                answered[value] = len(outputs)
                outputs.append(value)
                rows.append([sink] * end + [ended])
            classes[obs == value] = answered[value]
        return classes

    following_classes = np.empty(0, dtype=np.int64)
    for length in range(n_max, -1, -1):
        states = layers[length]
        columns = np.full((len(states), len(act_tokens)), sink, dtype=np.int64)
        if length < n_max:
            for token in range(ask):
                following = system.step(states, token)
                valid = following >= 0
                columns[valid, token] = following_classes[
                    np.searchsorted(layers[length + 1], following[valid])
                ]
        if length >= n_min:
            columns[:, ask] = answer_class(system.answer(states))
        output = -1 if length == 0 else OBS_WAIT
        unique, inverse = np.unique(columns, axis=0, return_inverse=True)
        ids = np.empty(len(unique), dtype=np.int64)
        for i, row in enumerate(unique):
            key = row.tobytes() + bytes([length == 0])
            if key not in signatures:
                signatures[key] = len(outputs)
                outputs.append(output)
                rows.append(row.tolist())
            ids[i] = signatures[key]
        following_classes = ids[inverse.ravel()]
    initial = int(following_classes[0])
    return _canonical(
        np.array(rows, dtype=np.int64), np.array(outputs), initial, act_tokens, obs_tokens
    )


def _canonical(
    transitions: np.ndarray,
    outputs: np.ndarray,
    initial: int,
    act_tokens: tuple[str, ...],
    obs_tokens: tuple[str, ...],
) -> ReferenceMachine:
    """Renumber the reachable states breadth-first from ``initial``."""
    order = [np.array([initial])]
    seen = np.zeros(len(outputs), dtype=bool)
    seen[initial] = True
    while len(order[-1]):
        successors = transitions[order[-1]].ravel()
        successors = successors[~seen[successors]]
        _, first = np.unique(successors, return_index=True)
        fresh = successors[np.sort(first)]
        seen[fresh] = True
        order.append(fresh)
    old = np.concatenate(order)
    new = np.empty(len(outputs), dtype=np.int64)
    new[old] = np.arange(len(old))
    return ReferenceMachine(
        transitions=new[transitions[old]],
        outputs=outputs[old].astype(np.int64),
        initial=0,
        act_tokens=act_tokens,
        obs_tokens=obs_tokens,
    )


def refine(transitions: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Moore's partition refinement: int64 ``(S,)`` class ids of the states of the machine with
    int64 ``transitions`` ``(S, A)`` and ``outputs`` ``(S,)`` (any integer codes); two states
    share a class iff every act stream from them shows the same outputs."""
    block = np.unique(outputs, return_inverse=True)[1].ravel()
    blocks = int(block.max()) + 1
    while True:
        signature = np.column_stack([block, block[transitions]])
        block = np.unique(signature, axis=0, return_inverse=True)[1].ravel()
        if block.max() + 1 == blocks:
            return block
        blocks = int(block.max()) + 1


def every_length_reference(
    system: PayloadSystem,
    n_min: int,
    act_tokens: tuple[str, ...],
    obs_tokens: tuple[str, ...],
    max_states: int = DEFAULT_MAX_STATES,
) -> ReferenceMachine:
    """The minimal Moore machine of the episodes ``payload (n tokens), [ask], [end]…`` for
    every ``n ≥ n_min``: as :func:`framed_reference` with no upper bound on the payload length,
    so the length is counted up to ``n_min`` only. It is finite where ``system`` reaches finitely
    many states (every memgym task: Count's counter stops at ``max_ones``), and a proof against
    it covers act streams of every length.

    Raises ``TooManyStates`` (a ``ValueError``) when more than ``max_states`` (payload state,
    counted length) pairs are reachable.
    """
    ask, end = len(act_tokens) - 2, len(act_tokens) - 1
    width = n_min + 1  # a pair is the key code * width + min(length, n_min)
    keys = frontier = np.array([system.initial * width], dtype=np.int64)
    edges = []
    while len(frontier):
        codes, lengths = np.divmod(frontier, width)
        reached = []
        for token in range(ask):
            following = system.step(codes, token)
            valid = following >= 0
            target = following[valid] * width + np.minimum(lengths[valid] + 1, n_min)
            edges.append((frontier[valid], token, target))
            reached.append(target)
        frontier = np.setdiff1d(np.concatenate(reached), keys)
        keys = np.union1d(keys, frontier)
        if len(keys) > max_states:
            raise TooManyStates(
                f"the every-length reference machine needs more than max_states={max_states:,} "
                "states before minimisation; pass a larger max_states"
            )
    codes, lengths = np.divmod(keys, width)
    answers = np.where(lengths >= n_min, system.answer(codes), -1)
    values = np.unique(answers[answers >= 0])
    # states: 0 the sink, 1 [end], one per answer value, then the pairs; the initial pair is
    # marked -2 apart from the sink's -1 while minimising (both show nothing)
    sink, ended, first = 0, 1, 2 + len(values)
    transitions = np.full((first + len(keys), len(act_tokens)), sink, dtype=np.int64)
    transitions[1:first, end] = ended
    for source, token, target in edges:
        rows = first + np.searchsorted(keys, source)
        transitions[rows, token] = first + np.searchsorted(keys, target)
    valid = answers >= 0
    transitions[first + np.flatnonzero(valid), ask] = 2 + np.searchsorted(values, answers[valid])
    initial = first + int(np.searchsorted(keys, system.initial * width))
    outputs = np.concatenate([[-1, OBS_END], values, np.full(len(keys), OBS_WAIT)])
    outputs[initial] = -2
    block = refine(transitions, outputs)
    heads = np.unique(block, return_index=True)[1]
    machine = _canonical(
        block[transitions[heads]], outputs[heads], int(block[initial]), act_tokens, obs_tokens
    )
    machine.outputs[machine.outputs == -2] = -1
    return machine
