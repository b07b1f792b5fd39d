"""Exact automaton extraction: threshold a trained boolean RNN and verify it against the task.

Thresholding the parameters at 0 gives boolean ``A_i``, ``C``, ``x0``. The automaton runs with
exact boolean algebra, ``x' = OR_k (A[a]_ik AND x_k)``, and predicts the obs token whose
output bit ``OR_k (C_jk AND x_k)`` is the only true one (no true bit, or several, is a miss).
It is checked on every valid episode of each length the task allows, up to a total budget,
and on random episodes ten times longer than the preset's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from memgym import all_episodes, batch_rollouts, memgym_task, scaled_length_kwargs
from memgym.tasks import CountTask, RememberTask, RepeatTask, Task

MISS = -1
"""Prediction of the automaton when no obs bit, or more than one, is true."""
TABLE_STATES = 100_000
"""Distinct states up to which :func:`verify` runs a batch with the state table of
:meth:`Automaton.run`; beyond, with :meth:`Automaton.simulate`."""


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

    def fires(self, x: np.ndarray) -> np.ndarray:
        """Which output bits ``OR_k (C_jk AND x_k)`` are true in states ``(..., D)``: bool
        ``(..., V_obs)``."""
        return (self.C & x[..., None, :]).any(axis=-1)

    def predict(self, x: np.ndarray) -> int:
        """The obs token whose output bit alone is true (:meth:`fires`), else MISS."""
        return int(_named(self.fires(x)))

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
        reached = [_packed_rows(self.x0[None])]
        for t in range(act.shape[1]):
            tokens = act[:, t]
            for token in tokens.unique():
                rows = tokens == token
                x[rows] = x[rows].float() @ A[token].T > 0
            predictions[:, t] = _named((x.float() @ C.T > 0).numpy())
            reached.append(np.unique(_packed_rows(x.numpy())))
        return predictions, _unpacked_rows(np.unique(np.concatenate(reached)), len(self.x0))

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
        outputs = [self.predict(self.x0)]
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
                    outputs.append(self.predict(x))
                    if len(states) > len(table):
                        table = np.concatenate([table, np.full_like(table, -1)])
                table[state, token] = ids[key]
            current = table[current, tokens]
            state_ids[:, t] = current
            predictions[:, t] = np.asarray(outputs)[current]
        return Trace(predictions, np.stack(states), state_ids)


class TooManyStates(RuntimeError):
    """:meth:`Automaton.run` reached more distinct states than its ``max_states``."""


@dataclass(frozen=True)
class Trace:
    """What an automaton did on a batch: predictions ``(B, T)``, the distinct states it
    reached, the start state first (bool ``(S, D)``), and the index into them of the state
    after each token (``(B, T)``)."""

    predictions: np.ndarray
    states: np.ndarray
    state_ids: np.ndarray


@dataclass
class Verification:
    """The automaton checked against the task."""

    exhaustive_lengths: list[int] = field(default_factory=list)
    exhaustive_episodes: int = 0
    exhaustive_errors: int = 0  # episodes with any wrong prediction on a valid step
    random_factor: float = 10.0
    random_episodes: int = 0
    random_errors: int = 0
    random_answer_accuracy: float = 0.0
    used_bits: list[int] = field(default_factory=list)
    num_states: int = 0
    state_dim: int = 0
    hand_built_bits: int | None = None

    @property
    def verified(self) -> bool:
        """True when no checked episode had a single wrong prediction."""
        return self.exhaustive_errors == 0 and self.random_errors == 0

    def summary(self) -> str:
        """A short human-readable table of the result."""
        lengths = self.exhaustive_lengths
        span = f"n = {lengths[0]}..{lengths[-1]}" if lengths else "no length"
        rows = [
            ("verified", "yes" if self.verified else "NO"),
            (
                "exhaustive",
                f"{self.exhaustive_errors} wrong of {self.exhaustive_episodes} ({span})",
            ),
            (
                f"random {self.random_factor:g}x length",
                f"{self.random_errors} wrong of {self.random_episodes}, "
                f"answers {100 * self.random_answer_accuracy:.2f}%",
            ),
            ("state bits used", f"{len(self.used_bits)} of {self.state_dim}"),
            ("distinct states reached", str(self.num_states)),
            ("hand-built size (docs/architecture.md)", _hand_built_text(self.hand_built_bits)),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def hand_built_bits(task: Task) -> int | None:
    """State bits of the hand-built automaton of docs/architecture.md (before "a few" extra
    bits)."""
    if isinstance(task, RememberTask):
        return 2 * task.num_cards
    if isinstance(task, CountTask):
        return 2 * (task.max_ones + 1)
    if isinstance(task, RepeatTask):
        return (task.lag + 1) * task.num_cards
    return None


def _named(fires: np.ndarray) -> np.ndarray:
    """The obs token whose output bit alone is true in ``fires`` ``(..., V_obs)``, else MISS."""
    return np.where(fires.sum(axis=-1) == 1, fires.argmax(axis=-1), MISS)


def _replay(automaton: Automaton, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and distinct states of ``automaton`` on ``act``: from its state table while
    that stays within :data:`TABLE_STATES` states (fast for small automata), else simulated."""
    try:
        trace = automaton.run(act, max_states=TABLE_STATES)
    except TooManyStates:
        return automaton.simulate(act)
    return trace.predictions, trace.states


def _packed_rows(x: np.ndarray) -> np.ndarray:
    """Bool rows ``(N, D)`` as one opaque value each ``(N,)``, to sort and compare whole."""
    packed = np.ascontiguousarray(np.packbits(x, axis=1))
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def _unpacked_rows(rows: np.ndarray, width: int) -> np.ndarray:
    """The bool rows ``(N, width)`` that :func:`_packed_rows` packed."""
    packed = np.frombuffer(rows.tobytes(), dtype=np.uint8).reshape(len(rows), -1)
    return np.unpackbits(packed, axis=1, count=width).astype(bool)


def episode_errors(predictions: np.ndarray, target: np.ndarray, mask: np.ndarray) -> int:
    """Number of episodes with at least one wrong prediction on a valid step."""
    return int(((predictions != target) & mask).any(axis=1).sum())


def verify(
    automaton: Automaton,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    *,
    exhaustive_budget: int = 1_000_000,
    random_episodes: int = 100_000,
    random_factor: float = 10.0,
    batch_size: int = 10_000,
    seed: int = 12345,
) -> Verification:
    """Check ``automaton`` on every episode of each length ``n_min, n_min+1, ...`` while the
    total stays within ``exhaustive_budget``, and on ``random_episodes`` random episodes
    ``random_factor`` times the preset's length."""
    env_kwargs = env_kwargs or {}
    task = memgym_task(env_id, **env_kwargs)
    if task is None:
        raise ValueError(f"verification needs a memgym env, got {env_id!r}")
    _check_vocab(automaton, task)
    result = Verification(random_factor=random_factor, state_dim=len(automaton.x0))
    result.hand_built_bits = hand_built_bits(task)
    reached: list[np.ndarray] = []  # distinct states of each batch, packed
    for n in range(task.n_min, task.n_max + 1):
        count = task.num_episodes(n)
        if result.exhaustive_episodes + count > exhaustive_budget:
            break
        episodes = all_episodes(env_id, n, limit=exhaustive_budget, **env_kwargs)
        for start in range(0, len(episodes), batch_size):
            rows = slice(start, start + batch_size)
            predictions, states = _replay(automaton, episodes.act[rows])
            result.exhaustive_errors += episode_errors(
                predictions, episodes.target[rows], episodes.mask[rows]
            )
            reached.append(_packed_rows(states))
        result.exhaustive_lengths.append(n)
        result.exhaustive_episodes += count
    long_kwargs = scaled_length_kwargs(env_id, random_factor, **env_kwargs)
    correct = 0
    for index, start in enumerate(range(0, random_episodes, batch_size)):
        size = min(batch_size, random_episodes - start)
        batch = batch_rollouts(env_id, size, seed=seed + index, **long_kwargs)
        predictions, states = _replay(automaton, batch.act)
        result.random_errors += episode_errors(predictions, batch.target, batch.mask)
        rows = np.arange(size)
        correct += int((predictions[rows, batch.lengths - 1] == batch.answers).sum())
        reached.append(_packed_rows(states))
    distinct = _unpacked_rows(np.unique(np.concatenate(reached)), len(automaton.x0))
    result.random_episodes = random_episodes
    result.random_answer_accuracy = correct / max(random_episodes, 1)
    result.used_bits = np.flatnonzero(distinct.any(axis=0)).tolist()
    result.num_states = len(distinct)
    return result


def draw(
    automaton: Automaton,
    path: str | Path,
    act_tokens: tuple[str, ...],
    obs_tokens: tuple[str, ...],
    used_bits: list[int],
) -> Path:
    """Save a PNG heatmap of each ``A_i`` and of ``C``, restricted to the used state bits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bits = used_bits or list(range(len(automaton.x0)))
    panels = [
        (f"A[{name}]", automaton.A[i][np.ix_(bits, bits)]) for i, name in enumerate(act_tokens)
    ]
    panels.append(("C", automaton.C[:, bits]))
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (title, matrix) in zip(axes.flat, panels, strict=False):
        ax.imshow(matrix, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(bits)), bits, fontsize=5)
        if title == "C":
            ax.set_yticks(range(len(obs_tokens)), obs_tokens, fontsize=5)
        else:
            ax.set_yticks(range(len(bits)), bits, fontsize=5)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"extracted automaton: {len(bits)} state bits used, "
        f"x0 true at {np.flatnonzero(automaton.x0).tolist()}",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _check_vocab(automaton: Automaton, task: Task) -> None:
    sizes = (automaton.A.shape[0], automaton.C.shape[0])
    expected = (len(task.act_tokens), len(task.obs_tokens))
    if sizes != expected:
        raise ValueError(
            f"the automaton has {sizes[0]} act and {sizes[1]} obs tokens but the env has "
            f"{expected[0]} and {expected[1]}: the checkpoint does not match this env"
        )


def _hand_built_text(bits: int | None) -> str:
    return "unknown for this env" if bits is None else f"about {bits} bits, plus a few"
