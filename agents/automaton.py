"""The thresholded boolean automaton of a boolean RNN, and its exact runs.

Thresholding the parameters at 0 gives boolean ``A_i``, ``C``, ``x0``. The automaton runs with
exact boolean algebra, ``x' = OR_k (A[a]_ik AND x_k)``, and predicts the obs token whose
output bit ``OR_k (C_jk AND x_k)`` is the only true one (no true bit, or several, is a miss).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

MISS = -1
"""Prediction of the automaton when no obs bit, or more than one, is true."""


@dataclass(frozen=True)
class Automaton:
    """A boolean automaton: transitions ``A`` ``(V_act, D, D)``, readout ``C`` ``(V_obs, D)``,
    start state ``x0`` ``(D,)``, all bool arrays."""

    A: np.ndarray
    C: np.ndarray
    x0: np.ndarray

    @classmethod
    def from_model(cls, model: nn.Module) -> Automaton:
        """Threshold a :class:`~agents.model.BooleanRNN` at 0."""
        if hasattr(model, "boolean_parameters"):
            params = model.boolean_parameters()
        else:
            params = (model.A.detach() > 0, model.C.detach() > 0, model.x0.detach() > 0)
        return cls(*(p.cpu().numpy().astype(bool) for p in params))

    def step(self, x: np.ndarray, token: int) -> np.ndarray:
        """The next state ``x'_i = OR_k (A[token]_ik AND x_k)`` of a bool state ``(D,)``."""
        return (self.A[token] & x).any(axis=1)

    def successors(self, x: np.ndarray, tokens: np.ndarray | None = None) -> np.ndarray:
        """The next state of each bool state ``(N, D)`` after each act token of ``tokens``
        ``(K,)`` (default: all of them): bool ``(N, K, D)``, computed for all at once by one
        boolean matrix product."""
        V, D = self.A.shape[:2]
        tokens = np.arange(V) if tokens is None else np.asarray(tokens)
        columns = (tokens[:, None] * D + np.arange(D)).ravel()
        stacked = self._stacked_transitions[:, columns]
        return (x.astype(np.float32) @ stacked > 0).reshape(len(x), len(tokens), D)

    @cached_property
    def _stacked_transitions(self) -> np.ndarray:
        """``A`` as one float32 ``(D, V_act · D)`` matrix for :meth:`successors`."""
        V, D = self.A.shape[:2]
        return np.ascontiguousarray(self.A.reshape(V * D, D).T, dtype=np.float32)

    def fires(self, x: np.ndarray) -> np.ndarray:
        """Which output bits ``OR_k (C_jk AND x_k)`` are true in states ``(..., D)``: bool
        ``(..., V_obs)``."""
        return (self.C & x[..., None, :]).any(axis=-1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The obs token named in states ``(..., D)``: the one whose output bit alone is true
        (:meth:`fires`), else MISS; int64 ``(...)``."""
        return _named(self.fires(x))

    def simulate(self, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`run` predicts for act streams ``(B, T)``, and the distinct states
        reached, the start state among them (bool ``(S, D)``, in no set order).

        It steps the whole batch at once by boolean matrix products (in PyTorch, so on as many
        threads as ``torch.get_num_threads()``) and keeps no table of
        states, so it suits automata whose states run into the millions (RepeatHard's register
        alone can hold 8⁸ contents), where :meth:`run` spends Python work and memory on each
        new state.
        """
        A, C = (torch.as_tensor(m, dtype=torch.float32) for m in (self.A, self.C))
        x = torch.as_tensor(self.x0).repeat(len(act), 1)
        act = torch.as_tensor(act)
        predictions = np.empty(act.shape, dtype=np.int64)
        reached = [packed_rows(self.x0[None])]
        for t in range(act.shape[1]):
            tokens = act[:, t]
            for token in tokens.unique():
                rows = tokens == token
                x[rows] = x[rows].float() @ A[token].T > 0
            predictions[:, t] = _named((x.float() @ C.T > 0).numpy())
            reached.append(np.unique(packed_rows(x.numpy())))
        return predictions, unpacked_rows(np.unique(np.concatenate(reached)), len(self.x0))

    def run(self, act: np.ndarray, max_states: int | None = None) -> Trace:
        """Predictions ``(B, T)`` for act streams ``(B, T)``, the states they visit, and which
        of them each stream is in after each token. Raises :class:`TooManyStates` once more
        than ``max_states`` distinct states are reached (then :meth:`simulate` is the faster
        way).

        Every distinct state gets an id the first time it is reached, and each (state, token)
        transition is computed once, so long batches cost one table look-up a step.
        """
        states = [self.x0]
        ids = {self.x0.tobytes(): 0}
        outputs = [int(self.predict(self.x0))]
        table = np.full((16, len(self.A)), -1, dtype=np.int64)
        current = np.zeros(len(act), dtype=np.int64)
        predictions = np.empty(act.shape, dtype=np.int64)
        state_ids = np.empty(act.shape, dtype=np.int64)
        for t in range(act.shape[1]):
            tokens = act[:, t]
            for state, token in np.unique(
                np.stack([current, tokens])[:, table[current, tokens] < 0], axis=1
            ).T:
                x = self.step(states[state], token)
                key = x.tobytes()
                if key not in ids:
                    if max_states is not None and len(states) == max_states:
                        raise TooManyStates(f"the batch reaches more than {max_states} states")
                    ids[key] = len(states)
                    states.append(x)
                    outputs.append(int(self.predict(x)))
                    if len(states) > len(table):
                        table = np.concatenate([table, np.full_like(table, -1)])
                table[state, token] = ids[key]
            current = table[current, tokens]
            state_ids[:, t] = current
            predictions[:, t] = np.asarray(outputs)[current]
        return Trace(predictions, np.stack(states), state_ids)


class TooManyStates(RuntimeError):
    """More distinct states were reached than the caller's ``max_states``."""


@dataclass(frozen=True)
class Trace:
    """What an automaton did on a batch: predictions ``(B, T)``, the distinct states it
    reached, the start state first (bool ``(S, D)``), and the index into them of the state
    after each token (``(B, T)``)."""

    predictions: np.ndarray
    states: np.ndarray
    state_ids: np.ndarray


def _named(fires: np.ndarray) -> np.ndarray:
    """The obs token whose output bit alone is true in ``fires`` ``(..., V_obs)``, else MISS."""
    return np.where(fires.sum(axis=-1) == 1, fires.argmax(axis=-1), MISS)


def packed_rows(x: np.ndarray) -> np.ndarray:
    """Bool rows ``(N, D)`` as one opaque value each ``(N,)``, to sort and compare whole."""
    return void_rows(np.packbits(x, axis=1))


def void_rows(rows: np.ndarray) -> np.ndarray:
    """uint8 rows ``(N, W)`` as one opaque value each ``(N,)``: equal values are equal rows."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    return rows.view(np.dtype((np.void, rows.shape[1]))).ravel()


def unpacked_rows(rows: np.ndarray, width: int) -> np.ndarray:
    """The bool rows ``(N, width)`` that :func:`packed_rows` packed."""
    packed = np.frombuffer(rows.tobytes(), dtype=np.uint8).reshape(len(rows), -1)
    return np.unpackbits(packed, axis=1, count=width).astype(bool)
