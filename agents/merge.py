"""State merging from a batch: RPNI over the batch's prefix tree, as a Moore machine.

Gradient descent finds no foothold on a machine whose states share no structure (a random
Moore machine, Tomita 6's count mod 3): the answer depends on the whole stream, and no single
split or merge of the model's states makes its states name the answers more often. Passive
automata learning does not need one. :func:`merge_states` builds the prefix tree of a batch
(one state per distinct act prefix, labelled by the target shown after it) and merges its
states in RPNI's red-blue order (Oncina & García, "Inferring regular languages in polynomial
updated time", 1992; Moore labels as in AALpy's ``run_RPNI(..., automaton_type="moore")``):
each state one act token away from the merged ("red") states, in the order of the shortest
prefix that reaches it, is merged into the first red state whose labels it agrees with
(folding their successors pairwise), else made red. With a characteristic sample in the batch
the result is the task's minimal machine; on any batch it is consistent with every target.

The search stops, with None, once more red states than ``max_states`` are needed (the model's
state bits) or after a number of folding steps proportional to the tree
(:func:`work_budget`), so it costs little on tasks whose flat machine is too large for the
model (Repeat's delay lines, which the gradient factors instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNKNOWN = -1
"""The label of a prefix the batch shows no target after (the empty prefix)."""
MIN_WORK = 2_000_000
"""Folding steps (one pair of states each) :func:`merge_states` may always take."""
WORK_PER_NODE = 4
"""Folding steps :func:`merge_states` may take per node of its prefix tree beyond
:data:`MIN_WORK`. The merges that succeed fold each node about once, the failed tries add the
rest: AutomatonHard's 136-state machine took 4.3 M steps on a tree of 3.4 M nodes (131,072
episodes of every length) and 7.1 M on one of 6.8 M."""


def work_budget(nodes: int) -> int:
    """The folding steps :func:`merge_states` may take on a prefix tree of ``nodes`` nodes."""
    return max(MIN_WORK, WORK_PER_NODE * nodes)


@dataclass(frozen=True)
class MergedMachine:
    """The Moore machine :func:`merge_states` learns, over act token ids, its start state 0:
    ``transitions`` int64 ``(K, V_act)`` (a transition the batch never takes is a self-loop)
    and the obs token id each state shows, ``outputs`` int64 ``(K,)`` (:data:`UNKNOWN` where
    the batch shows none)."""

    transitions: np.ndarray
    outputs: np.ndarray


def prefix_tree(
    act: np.ndarray, target: np.ndarray, mask: np.ndarray, num_tokens: int
) -> tuple[list[dict[int, int]], list[int]] | None:
    """The batch's prefix tree: each node's children by act token and its label (the target
    after its prefix; :data:`UNKNOWN` for the root, node 0). ``act``, ``target``, ``mask``
    ``(B, T)``; a row's valid steps must come first. Nodes are numbered by depth, then by
    (parent, token), so a smaller id is a shorter (or equally long, smaller) prefix. None when
    one prefix meets two targets (the batch is not a function of the act stream)."""
    if (mask[:, 1:] & ~mask[:, :-1]).any():
        raise ValueError("prefix_tree needs each row's valid steps first")
    children: list[dict[int, int]] = [{}]
    labels = [UNKNOWN]
    node = np.zeros(len(act), dtype=np.int64)
    for t in range(act.shape[1]):
        rows = np.flatnonzero(mask[:, t])
        if not len(rows):
            break
        keys, inverse = np.unique(node[rows] * num_tokens + act[rows, t], return_inverse=True)
        inverse = inverse.ravel()
        shown = np.full(len(keys), UNKNOWN, dtype=np.int64)
        shown[inverse] = target[rows, t]
        if (shown[inverse] != target[rows, t]).any():
            return None
        ids = len(labels) + np.arange(len(keys))
        for key, child in zip(keys.tolist(), ids.tolist(), strict=True):
            children[key // num_tokens][key % num_tokens] = child
        children += [{} for _ in keys]
        labels += shown.tolist()
        node[rows] = ids[inverse]
    return children, labels


def merge_states(
    act: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    num_tokens: int,
    max_states: int,
    max_work: int | None = None,
) -> MergedMachine | None:
    """RPNI's red-blue state merging on the batch's prefix tree (see the module doc):
    ``act``, ``target``, ``mask`` ``(B, T)`` as :func:`prefix_tree` reads them, act ids below
    ``num_tokens``. Returns the merged Moore machine, consistent with every target of the
    batch, or None when the batch is inconsistent, more than ``max_states`` states are needed,
    or the folds take more than ``max_work`` steps (default: :func:`work_budget` of the tree)."""
    tree = prefix_tree(act, target, mask, num_tokens)
    if tree is None:
        return None
    merger = _Merger(*tree, work_budget(len(tree[1])) if max_work is None else max_work)
    red = [0]
    is_red = {0}
    while True:
        blue = min(
            (
                (child, parent, token)
                for parent in red
                for token, child in merger.children[parent].items()
                if child not in is_red
            ),
            default=None,
        )
        if blue is None:
            break
        state, parent, token = blue
        for candidate in red:
            if merger.try_merge(parent, token, candidate, state):
                break
            if merger.work > merger.max_work:
                return None
        else:
            red.append(state)
            is_red.add(state)
            if len(red) > max_states:
                return None
    number = {state: i for i, state in enumerate(red)}
    transitions = np.array(
        [[number[merger.children[q].get(c, q)] for c in range(num_tokens)] for q in red],
        dtype=np.int64,
    )
    outputs = np.array([merger.labels[q] for q in red], dtype=np.int64)
    return MergedMachine(transitions, outputs)


class _Merger:
    """The prefix tree as it is being merged, with an undo log for a merge that fails."""

    def __init__(self, children: list[dict[int, int]], labels: list[int], max_work: int) -> None:
        self.children, self.labels, self.max_work = children, labels, max_work
        self.work = 0

    def try_merge(self, parent: int, token: int, red: int, blue: int) -> bool:
        """Point ``parent``'s ``token`` edge at ``red`` and fold ``blue``'s subtree into it;
        undo all of it and return False on a clash of labels (or past the work budget)."""
        undo: list[tuple[int, int, int | None]] = [(parent, token, blue)]
        self.children[parent][token] = red
        pending = [(red, blue)]
        while pending:
            into, state = pending.pop()
            self.work += 1
            label, known = self.labels[state], self.labels[into]
            if (label != UNKNOWN and known not in (UNKNOWN, label)) or self.work > self.max_work:
                self._undo(undo)
                return False
            if known == UNKNOWN and label != UNKNOWN:
                undo.append((into, -1, known))
                self.labels[into] = label
            targets = self.children[into]
            for c, child in self.children[state].items():
                if c in targets:
                    pending.append((targets[c], child))
                else:
                    undo.append((into, c, None))
                    targets[c] = child
        return True

    def _undo(self, undo: list[tuple[int, int, int | None]]) -> None:
        for state, token, old in reversed(undo):
            if token == -1:
                self.labels[state] = old  # type: ignore[assignment]
            elif old is None:
                del self.children[state][token]
            else:
                self.children[state][token] = old
