"""Export of an extracted automaton as a minimal Moore machine: tables, Graphviz DOT, AALpy.

:func:`moore_machine` takes the states the automaton reaches (over the valid act streams of a
reference machine when one is given, else over every act token), labels each with the obs
token the automaton names, and minimises the result. The machine draws to DOT text and
converts to ``aalpy.automata.MooreMachine`` (the ``[automata]`` extra), so the tools of the
automata field can minimise, compare and model-check it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents.automaton import MISS, Automaton, TooManyStates
from agents.product import MooreReference, explore
from agents.verify import EPISODE_END
from memgym.machine import refine

if TYPE_CHECKING:
    from aalpy.automata import MooreMachine

MISS_NAME = "[miss]"
"""Output of a state where the automaton names no obs token (no output bit true, or several)."""
EXPORT_STATES = 100_000
"""Default cap on the states :func:`moore_machine` searches."""


@dataclass(frozen=True)
class MooreTable:
    """A Moore machine as tables: ``transitions`` ``(S, V_act)`` int64 (complete: every act
    token leads somewhere), ``outputs`` (S names: an obs token, :data:`MISS_NAME`, or None
    where nothing is shown), ``act_tokens`` (the names of the V_act inputs), the ``initial``
    state and ``sink``, the state invalid continuations lead to (None if there is none)."""

    transitions: np.ndarray
    outputs: tuple[str | None, ...]
    act_tokens: tuple[str, ...]
    initial: int = 0
    sink: int | None = None

    def __len__(self) -> int:
        return len(self.outputs)

    def run(self, act: list[int]) -> list[str | None]:
        """The outputs shown after each act token (ids) of one stream, from ``initial``."""
        state, shown = self.initial, []
        for token in act:
            state = int(self.transitions[state, token])
            shown.append(self.outputs[state])
        return shown

    def minimise(self) -> MooreTable:
        """The minimal equivalent machine (Moore's partition refinement), its states those
        reachable, numbered in breadth-first order from the initial one (which is 0)."""
        codes = {name: code for code, name in enumerate(dict.fromkeys(self.outputs))}
        block = refine(self.transitions, np.array([codes[name] for name in self.outputs]))
        blocks = int(block.max()) + 1
        first = np.unique(block, return_index=True)[1]
        quotient = block[self.transitions[first]]
        order = _breadth_first(quotient, int(block[self.initial]))
        rank = np.full(blocks, -1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        sink = None if self.sink is None else int(rank[block[self.sink]])
        return MooreTable(
            transitions=rank[quotient[order]],
            outputs=tuple(self.outputs[first[b]] for b in order),
            act_tokens=self.act_tokens,
            initial=0,
            sink=None if sink == -1 else sink,
        )

    def to_dot(self) -> str:
        """Graphviz DOT text: a node per state labelled with its output, an edge per pair of
        states labelled with the act tokens between them; the sink and the invalid
        continuations into it are left out."""
        lines = [
            "digraph automaton {",
            "  rankdir=LR;",
            "  node [shape=circle];",
            '  start [shape=point, label=""];',
            f"  start -> s{self.initial};",
        ]
        for state, name in enumerate(self.outputs):
            if state != self.sink:
                label = f"s{state}" if name is None else f"s{state}\\n{_quoted(name)}"
                lines.append(f'  s{state} [label="{label}"];')
        for state, targets in enumerate(self.transitions):
            if state == self.sink:
                continue
            tokens_to: dict[int, list[str]] = {}
            for token, target in enumerate(targets):
                if target != self.sink:
                    tokens_to.setdefault(int(target), []).append(self.act_tokens[token])
            for target, tokens in tokens_to.items():
                label = _quoted(", ".join(tokens))
                lines.append(f'  s{state} -> s{target} [label="{label}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_aalpy(self) -> MooreMachine:
        """The machine as ``aalpy.automata.MooreMachine``: states ``s0, s1, ...`` (``s0``
        initial), inputs the act token names, outputs as in :attr:`outputs`. Needs AALpy
        (``pip install memgym[automata]``)."""
        try:
            from aalpy.automata import MooreMachine
        except ImportError:
            raise ImportError(
                "to_aalpy needs AALpy: pip install 'memgym[automata]' (or pip install aalpy)"
            ) from None
        order = [self.initial, *(s for s in range(len(self)) if s != self.initial)]
        setup = {
            f"s{state}": (
                self.outputs[state],
                {
                    name: f"s{target}"
                    for name, target in zip(self.act_tokens, self.transitions[state], strict=True)
                },
            )
            for state in order
        }
        return MooreMachine.from_state_setup(setup)


def moore_machine(
    automaton: Automaton,
    act_tokens: tuple[str, ...],
    obs_tokens: tuple[str, ...],
    reference: MooreReference | None = None,
    max_states: int = EXPORT_STATES,
    episode_end: str | None = EPISODE_END,
) -> MooreTable:
    """The minimal Moore machine of what ``automaton`` shows on the act streams it can read.

    Without ``reference``, its states are those the automaton reaches from ``x0`` over every
    act token, each showing the obs token it names (``x0`` included). With one, they are the
    pairs (reference state, automaton state) reached over the reference's valid act streams
    (:func:`agents.product.explore`), which stop at ``episode_end`` as in
    :func:`~agents.verify.prove`; a pair shows what the automaton names there, or None where
    the reference shows nothing (its initial state), and invalid continuations lead to one
    sink showing None. For a correct automaton that is the minimal reference machine (with
    ``episode_end`` leading to the sink).
    Raises :class:`~agents.automaton.TooManyStates` past ``max_states`` states searched.
    """
    if (len(act_tokens), len(obs_tokens)) != (automaton.A.shape[0], automaton.C.shape[0]):
        raise ValueError(
            f"{len(act_tokens)} act and {len(obs_tokens)} obs token names given for an "
            f"automaton of {automaton.A.shape[0]} act and {automaton.C.shape[0]} obs tokens"
        )
    product = explore(automaton, reference, max_states=max_states, episode_end=episode_end)
    if not product.complete:
        raise TooManyStates(f"the automaton reaches more than {max_states} states")
    names = [MISS_NAME if p == MISS else obs_tokens[p] for p in product.predicted]
    outputs = [
        None if reference is not None and expected < 0 else name
        for name, expected in zip(names, product.expected, strict=True)
    ]
    transitions = product.transitions()
    sink = None
    if (transitions < 0).any():
        sink = len(outputs)
        outputs.append(None)
        transitions = np.vstack([transitions, np.full((1, transitions.shape[1]), -1)])
        transitions[transitions < 0] = sink
    return MooreTable(transitions, tuple(outputs), tuple(act_tokens), 0, sink).minimise()


def _breadth_first(transitions: np.ndarray, initial: int) -> list[int]:
    """The states ``transitions`` ``(S, V)`` reaches from ``initial``, in breadth-first order."""
    order, seen, queue = [initial], {initial}, deque([initial])
    while queue:
        for target in transitions[queue.popleft()]:
            if int(target) not in seen:
                seen.add(int(target))
                order.append(int(target))
                queue.append(int(target))
    return order


def _quoted(text: str) -> str:
    """``text`` escaped for a double-quoted DOT string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
