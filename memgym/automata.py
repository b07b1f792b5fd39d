"""The finite automata behind the Tomita and Automaton tasks, as integer arrays.

``tomita_dfa(g)`` gives the minimal DFA of Tomita grammar ``g`` (1–7) over ``0``/``1``;
``random_moore_machine`` draws a minimal Moore machine with every state reachable; ``run_to``
runs a transition table over a batch of symbol streams. State 0 is always the initial state.
"""

from __future__ import annotations

import functools

import numpy as np

TOMITA_GRAMMARS: dict[int, tuple[str, list[list[int]], list[bool]]] = {
    # grammar: (definition, transitions[state] = [on 0, on 1], accepting[state])
    1: ("1*", [[1, 0], [1, 1]], [True, False]),
    2: ("(10)*", [[2, 1], [0, 2], [2, 2]], [True, False, False]),
    3: (
        "no odd-length block of 1s followed, anywhere later, by an odd-length block of 0s",
        # 0: clear, 1: in an odd 1-block, 2: after an odd 1-block, in an odd 0-block,
        # 3: after an odd 1-block, not in an odd 0-block, 4: dead
        [[0, 1], [2, 0], [3, 4], [2, 3], [4, 4]],
        [True, True, False, True, False],
    ),
    4: ("no 000", [[1, 0], [2, 0], [3, 0], [3, 3]], [True, True, True, False]),
    5: (
        "an even number of 0s and an even number of 1s",
        # state = 2 * (zeros mod 2) + (ones mod 2)
        [[2, 1], [3, 0], [0, 3], [1, 2]],
        [True, False, False, False],
    ),
    6: ("(#0 − #1) ≡ 0 (mod 3)", [[1, 2], [2, 0], [0, 1]], [True, False, False]),
    7: (
        "0*1*0*1*",
        [[0, 1], [2, 1], [2, 3], [4, 3], [4, 4]],
        [True, True, True, True, False],
    ),
}
"""The seven Tomita grammars (Tomita 1982), as minimal DFAs."""


def tomita_dfa(grammar: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimal DFA of Tomita grammar ``grammar``: int64 transitions ``(Q, 2)``, bool ``(Q,)``.

    Raises ``ValueError`` for a grammar outside 1–7.
    """
    if grammar not in TOMITA_GRAMMARS:
        raise ValueError(f"grammar must be one of the Tomita grammars 1 … 7, got {grammar!r}")
    _, transitions, accepting = TOMITA_GRAMMARS[grammar]
    return np.array(transitions, dtype=np.int64), np.array(accepting)


def moore_classes(transitions: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Equivalence classes of a Moore machine's states (partition refinement), int64 ``(S,)``."""
    classes = np.unique(outputs, return_inverse=True)[1].ravel()
    while True:
        signature = np.column_stack([classes, classes[transitions]])
        refined = np.unique(signature, axis=0, return_inverse=True)[1].ravel()
        if refined.max() == classes.max():
            return refined
        classes = refined


@functools.lru_cache(maxsize=64)
def random_moore_machine(
    num_states: int, num_symbols: int, num_outputs: int, seed: int, tries: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """A random minimal Moore machine with every state reachable from state 0.

    Returns int64 transitions ``(num_states, num_symbols)`` and outputs ``(num_states,)`` in
    ``0 … num_outputs − 1``. A random spanning tree (each state ``i ≥ 1`` is the target of a
    free slot of a state before it) makes every state reachable; the other slots and the
    outputs are uniform. Draws are repeated until the machine is minimal; raises
    ``ValueError`` after ``tries`` draws without one. Results are cached (read-only arrays).
    """
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        transitions = rng.integers(0, num_states, size=(num_states, num_symbols))
        free = np.ones((num_states, num_symbols), dtype=bool)
        for state in range(1, num_states):
            slots = np.flatnonzero(free[:state])
            slot = slots[rng.integers(len(slots))]
            transitions.flat[slot] = state
            free.flat[slot] = False
        outputs = rng.integers(0, num_outputs, size=num_states)
        if moore_classes(transitions, outputs).max() == num_states - 1:
            transitions, outputs = transitions.astype(np.int64), outputs.astype(np.int64)
            transitions.flags.writeable = outputs.flags.writeable = False
            return transitions, outputs
    raise ValueError(
        f"no minimal Moore machine with num_states={num_states}, num_symbols={num_symbols}, "
        f"num_outputs={num_outputs} found in {tries} draws; use more outputs or symbols"
    )


def run_to(transitions: np.ndarray, symbols: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The state of each row after its first ``n`` symbols, from state 0.

    ``symbols`` is ``(B, T)`` with valid symbol ids at ``t < n`` (other entries are ignored),
    ``n`` is ``(B,)`` with ``1 ≤ n ≤ T``; returns int64 ``(B,)``.
    """
    steps = int(n.max())
    columns = np.where(np.arange(steps) < n[:, None], symbols[:, :steps], 0).T.astype(np.intp)
    flat, width = transitions.ravel(), transitions.shape[1]
    history = np.empty((steps, len(n)), dtype=np.intp)
    state = np.zeros(len(n), dtype=np.intp)
    for t in range(steps):
        state = np.take(flat, state * width + columns[t])
        history[t] = state
    return history[n - 1, np.arange(len(n))].astype(np.int64)
