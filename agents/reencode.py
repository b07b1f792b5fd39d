"""Re-encoding: write the thresholded automaton's minimal machine one bit per state.

A boolean RNN's readout ``C ⊗ x`` is an OR of bits, so it names an output only through a bit
that is true in the states of that output and in no other. Gradient descent often learns a
distributed code whose states do tell the answers apart (every pair "state, token read" of a
batch has one target) while no bit, nor any OR of bits, marks the states of one output: on
Tomita 4 ("no 000"), the states that accept were those without the "000 seen" bit, and the
readout cannot name an absence.

:func:`one_hot_reencode` then rewrites the model as the automaton it already is, minimised:
the states reachable from the start (closed under every token), labelled by the target of
each (state, token) pair on the batch (unknown where the batch has no such pair), merged by
Moore's partition refinement (:func:`memgym.machine.refine`), one bit per class, one link per
transition. The old bits are turned off for good, so they and the rest are dormant again; the
answer bits that name the outputs grow from them (:func:`agents.resample.answer_bit`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from agents.automaton import Automaton, TooManyStates, packed_rows
from agents.merge import merge_states
from agents.model import BooleanRNN
from memgym.machine import refine

MAX_STATES = 2048
"""States of the automaton past which it is not re-encoded (nor is one with more classes than
bits)."""
UNKNOWN = -1
"""The label of a (state, token) pair the batch does not hold."""


def minimal_classes(
    automaton: Automaton, act: np.ndarray, target: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """The classes of the automaton's states under Moore's partition refinement, labelled by
    the batch's targets: ``(transitions, class_of, start, answers)``, the class of each
    class's successor on each act token ``(K, V_act)``, of each state ``(S,)`` and of the
    start state, and how many (class, token) pairs have a target (the answer bits they need).
    None when the states reachable from the start exceed :data:`MAX_STATES`, or when some
    (state, token) pair of the batch has two targets (the states do not tell the answers)."""
    try:
        trace = automaton.run(act, max_states=MAX_STATES)
    except TooManyStates:
        return None
    states = _closure(automaton, trace.states)
    if states is None:
        return None
    keys = packed_rows(states)
    order = np.argsort(keys)
    index = order[np.searchsorted(keys[order], packed_rows(trace.states))]  # trace → closure
    num_tokens = len(automaton.A)
    successors = automaton.successors(states).reshape(-1, states.shape[1])
    transitions = order[np.searchsorted(keys[order], packed_rows(successors))].reshape(
        len(states), num_tokens
    )
    after = index[trace.state_ids]
    before = np.concatenate([np.zeros_like(after[:, :1]), after[:, :-1]], axis=1)
    labels = np.full((len(states), num_tokens), UNKNOWN, dtype=np.int64)
    pairs = before[mask], act[mask]
    labels[pairs] = target[mask]
    if (labels[pairs] != target[mask]).any():  # a pair with two targets
        return None
    class_of = refine(transitions, np.unique(labels, axis=0, return_inverse=True)[1].ravel())
    classes = int(class_of.max()) + 1
    class_transitions = np.empty((classes, num_tokens), dtype=np.int64)
    class_transitions[class_of] = class_of[transitions]
    class_labels = np.full((classes, num_tokens), UNKNOWN, dtype=np.int64)
    class_labels[class_of] = labels
    answers = int((class_labels != UNKNOWN).sum())
    return class_transitions, class_of, int(class_of[index[0]]), answers


def _closure(automaton: Automaton, states: np.ndarray) -> np.ndarray | None:
    """``states`` (the start state first) and every state reachable from them, bool
    ``(S, D)`` with the start state first; None past :data:`MAX_STATES`."""
    seen = {row.tobytes() for row in states}
    frontier, found = states, [states]
    while len(frontier):
        successors = automaton.successors(frontier).reshape(-1, states.shape[1])
        new = [row for row in np.unique(successors, axis=0) if row.tobytes() not in seen]
        if not new:
            break
        seen.update(row.tobytes() for row in new)
        if len(seen) > MAX_STATES:
            return None
        frontier = np.stack(new)
        found.append(frontier)
    return np.concatenate(found)


def one_hot_reencode(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    act: Tensor,
    target: Tensor,
    mask: Tensor,
    margin: float,
) -> list[int]:
    """Rewrite ``model`` as its thresholded automaton's minimal machine on the batch (``act``,
    ``target``, ``mask`` ``(B, T)``), one bit per class (see the module doc), entries at
    ``±margin``, Adam's moments of every parameter cleared; the bits that now hold the classes
    (none, and the model untouched, when :func:`minimal_classes` gives None or the classes and
    their answer bits need more bits than the model has)."""
    automaton = Automaton.from_model(model)
    found = minimal_classes(automaton, *(x.cpu().numpy() for x in (act, target, mask)))
    if found is None:
        return []
    transitions, _, start, answers = found
    if len(transitions) + answers > model.state_dim:
        return []
    return write_machine(model, optimizer, transitions, start, None, margin)


def merged_reencode(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Tensor, Tensor, Tensor]],
    margin: float,
) -> list[int]:
    """Rewrite ``model`` as the Moore machine RPNI merges from a batch's prefix tree
    (:func:`agents.merge.merge_states`), one bit per state naming its output, entries at
    ``±margin``, Adam's moments cleared. ``batches`` (``act``, ``target``, ``mask`` ``(B, T)``
    each) are merged in turn until one gives a machine within the model's bits; the rest are
    not read. Returns the bits that now hold the states (none, and the model untouched, when
    no batch does)."""
    for act, target, mask in batches:
        arrays = (x.cpu().numpy() for x in (act, target, mask))
        machine = merge_states(*arrays, len(model.A), model.state_dim)
        if machine is not None:
            return write_machine(model, optimizer, machine.transitions, 0, machine.outputs, margin)
    return []


def write_machine(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    transitions: np.ndarray,
    start: int,
    outputs: np.ndarray | None,
    margin: float,
) -> list[int]:
    """Write the machine ``transitions`` int ``(K, V_act)`` into ``model``, state ``k`` as bit
    ``k``: one link per transition, ``start`` in ``x0``, state ``k`` naming the obs token
    ``outputs[k]`` where that is ≥ 0 (``outputs`` None: no state names one); every other
    entry at ``-margin``, Adam's moments of every parameter cleared. Returns the bits that now
    hold the states; raises ``ValueError`` when there are more states than bits."""
    states = len(transitions)
    if states > model.state_dim:
        raise ValueError(f"a machine of {states} states does not fit {model.state_dim} bits")
    bits = torch.arange(states)
    with torch.no_grad():
        model.A.fill_(-margin)
        tokens = torch.arange(len(model.A)).unsqueeze(1)
        model.A[tokens, torch.as_tensor(transitions.T), bits] = margin
        model.C.fill_(-margin)
        if outputs is not None:
            shown = torch.as_tensor(outputs)
            model.C[shown[shown >= 0], bits[shown >= 0]] = margin
        model.x0.fill_(-margin)
        model.x0[start] = margin
    for param in (model.A, model.C, model.x0):
        zero_moments(optimizer, param)
    return bits.tolist()


def zero_moments(optimizer: torch.optim.Optimizer, param: Tensor, index: object = ...) -> None:
    """Zero Adam's moments of ``param`` at ``index`` (default: all of them), so entries a
    rewiring wrote start afresh."""
    for moment in optimizer.state.get(param, {}).values():
        if torch.is_tensor(moment) and moment.shape == param.shape:
            moment[index] = 0
