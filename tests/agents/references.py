"""Reference Moore machines of the task cores, built in the tests by a search over the cores
(the shape of ``memgym.reference``'s machines: ``transitions``, ``outputs`` with −1 for the
sink and the initial state, ``initial``, ``act_tokens``, ``obs_tokens``)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from memgym.core import Core


@dataclass(frozen=True)
class CoreReference:
    """A task core as a Moore machine over its act tokens; state 0 is the initial one, state 1
    the sink."""

    transitions: np.ndarray
    outputs: np.ndarray
    initial: int
    act_tokens: tuple[str, ...]
    obs_tokens: tuple[str, ...]

    def run(self, act: list[int]) -> list[int]:
        """The outputs after each act token of one stream (−1 once it is invalid)."""
        state, shown = self.initial, []
        for token in act:
            state = int(self.transitions[state, token])
            shown.append(int(self.outputs[state]))
        return shown


def core_reference(core: Core) -> CoreReference:
    """Search every state of ``core`` reached by valid act streams. A state is the core's
    hidden state, whether it has read a token (Count's ``[ask]`` needs one) and the obs token
    it shows."""

    def key(core: Core, obs: int) -> tuple:
        return (tuple(core.get_state()), getattr(core, "length", 0) > 0, obs)

    core.reset()
    cores, ids = [core, None], {key(core, -1): 0, "sink": 1}
    outputs, rows = [-1, -1], []
    for state in range(10**6):
        if state == len(cores):
            break
        row = []
        for token in range(len(core.act_tokens)):
            if cores[state] is None:
                row.append(1)
                continue
            nxt = copy.deepcopy(cores[state])
            try:
                obs = nxt.feed(token)
            except ValueError:
                row.append(1)
                continue
            k = key(nxt, obs)
            if k not in ids:
                ids[k] = len(cores)
                cores.append(nxt)
                outputs.append(obs)
            row.append(ids[k])
        rows.append(row)
    return CoreReference(
        np.array(rows, dtype=np.int64),
        np.array(outputs, dtype=np.int64),
        0,
        core.act_tokens,
        core.obs_tokens,
    )
