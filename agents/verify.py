"""Checks of an extracted automaton against its task: sampled, and proved for every length.

:func:`verify` runs the automaton on every valid episode of each length the task allows, up to
a total budget, and on random episodes ten times longer than the preset's: a sampled check.
:func:`prove` searches the product of the task's reference Moore machine and the automaton
(:func:`agents.product.explore`): it proves them equal on every valid act stream, of any
length, or returns a shortest act stream on which they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.automaton import MISS, Automaton, TooManyStates, packed_rows, unpacked_rows
from agents.product import MooreReference, explore
from memgym import all_episodes, batch_rollouts, memgym_task, scaled_length_kwargs
from memgym.tasks import AutomatonTask, CountTask, RememberTask, RepeatTask, Task

TABLE_STATES = 100_000
"""Distinct states up to which :func:`verify` runs a batch with the state table of
:meth:`Automaton.run`; beyond, with :meth:`Automaton.simulate`."""
EPISODE_END = "[end]"
"""The act token after which an episode scores nothing: :func:`prove` stops streams there."""
PRODUCT_STATES = 1_000_000
"""Default budget of :func:`prove`: product states searched before it gives up."""


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
        """True when no checked episode had a single wrong prediction (a sampled check: see
        :func:`prove` for every length)."""
        return self.exhaustive_errors == 0 and self.random_errors == 0

    def summary(self) -> str:
        """A short human-readable table of the result."""
        lengths = self.exhaustive_lengths
        exhaustive = (
            (f"every episode, n = {lengths[0]}..{lengths[-1]}", f"{self.exhaustive_errors} wrong "
             f"of {self.exhaustive_episodes:,}")
            if lengths
            else ("every episode", "none checked: the shortest length has more than the budget")
        )  # fmt: skip
        rows = [
            ("sampled check", "passed" if self.verified else "FAILED"),
            exhaustive,
            (
                f"{self.random_episodes:,} random episodes at {self.random_factor:g}x length",
                f"{self.random_errors} wrong, answers {100 * self.random_answer_accuracy:.2f}%",
            ),
            ("state bits used", f"{len(self.used_bits)} of {self.state_dim}"),
            ("bit states reached on these episodes", str(self.num_states)),
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
    if isinstance(task, AutomatonTask):
        return task.num_states + task.num_outputs
    return None


def _replay(automaton: Automaton, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and distinct states of ``automaton`` on ``act``: from its state table while
    that stays within :data:`TABLE_STATES` states (fast for small automata), else simulated."""
    try:
        trace = automaton.run(act, max_states=TABLE_STATES)
    except TooManyStates:
        return automaton.simulate(act)
    return trace.predictions, trace.states


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
            reached.append(packed_rows(states))
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
        reached.append(packed_rows(states))
    distinct = unpacked_rows(np.unique(np.concatenate(reached)), len(automaton.x0))
    result.random_episodes = random_episodes
    result.random_answer_accuracy = correct / max(random_episodes, 1)
    result.used_bits = np.flatnonzero(distinct.any(axis=0)).tolist()
    result.num_states = len(distinct)
    return result


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


@dataclass(frozen=True)
class Proof:
    """What :func:`prove` found.

    ``status`` is ``"proved"`` (equal on every valid act stream), ``"counterexample"`` or
    ``"budget exceeded"`` (more than ``max_product_states`` product states; nothing shown
    either way). ``product_states`` counts the product states searched. A counterexample is
    ``stream`` (act token ids, a shortest one), after whose last token the reference shows
    ``expected`` and the automaton names ``predicted`` (an obs token id, or MISS).
    """

    status: str
    product_states: int
    max_product_states: int
    act_tokens: tuple[str, ...]
    obs_tokens: tuple[str, ...]
    stream: tuple[int, ...] | None = None
    expected: int | None = None
    predicted: int | None = None

    @property
    def proved(self) -> bool:
        """True when the automaton equals the reference on every valid act stream."""
        return self.status == "proved"

    def summary(self) -> str:
        """One line: the proof, the shortest counterexample, or the budget that stopped it."""
        if self.proved:
            return (
                "proved equal to the reference machine for every act stream "
                f"({self.product_states:,} product states)"
            )
        if self.status == "budget exceeded":
            return (
                "product over budget: sampled check only (more than "
                f"{self.max_product_states:,} product states)"
            )
        stream = " ".join(self.act_tokens[token] for token in self.stream)
        predicted = "no obs token" if self.predicted == MISS else self.obs_tokens[self.predicted]
        return (
            f"differs from the reference machine after {len(self.stream)} act tokens "
            f"(a shortest counterexample): {stream} -> reference "
            f"{self.obs_tokens[self.expected]}, automaton {predicted}"
        )


def prove(
    automaton: Automaton,
    reference: MooreReference,
    max_product_states: int = PRODUCT_STATES,
    episode_end: str | None = EPISODE_END,
) -> Proof:
    """Prove ``automaton`` equal to ``reference`` on every valid act stream, of any length.

    Breadth-first search over the product of the reference Moore machine
    (``transitions (S, V_act)``, ``outputs (S,)`` with −1 where no obs token is shown,
    ``initial``, ``act_tokens``, ``obs_tokens``; as ``memgym.reference`` builds) and the
    automaton, from (``initial``, ``x0``), following the valid continuations only; at each
    pair whose reference output is ≥ 0 the automaton's named obs token must equal it. The
    first level with a pair that differs gives a shortest counterexample. Streams stop at the
    act token ``episode_end`` (after it a task scores nothing: rollouts mask those steps);
    ``None`` follows and checks it too. Past
    ``max_product_states`` product states the answer is ``"budget exceeded"``; memory grows
    with that budget (about ``D / 8 + 60`` bytes a state). Raises ValueError when the
    reference does not fit the automaton's act and obs tokens or lacks ``episode_end``.
    """
    product = explore(
        automaton,
        reference,
        max_states=max_product_states,
        stop_at_mismatch=True,
        episode_end=episode_end,
    )
    names = {"act_tokens": tuple(reference.act_tokens), "obs_tokens": tuple(reference.obs_tokens)}
    if product.mismatch is not None:
        state = product.mismatch
        return Proof(
            "counterexample",
            len(product),
            max_product_states,
            stream=tuple(product.stream(state)),
            expected=int(product.expected[state]),
            predicted=int(product.predicted[state]),
            **names,
        )
    status = "proved" if product.complete else "budget exceeded"
    return Proof(status, len(product), max_product_states, **names)
