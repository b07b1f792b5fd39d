"""memgym.reference: exact on every valid episode, a sink for the rest, minimal, DOT export."""

from __future__ import annotations

import functools

import numpy as np
import pydot
import pytest
from aalpy.automata import MooreMachine
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from memgym_oracle import preset_cases

import memgym
from memgym import ReferenceMachine, all_episodes, batch_rollouts, reference
from memgym.machine import TooManyStates

TEST_BUDGET = 20_000
"""States a randomly drawn task may need; bigger ones are skipped to keep the tests fast."""


@st.composite
def small_cases(draw: st.DrawFn, n_max: int = 12, cards: int = 5) -> tuple[str, dict, dict]:
    """A base id with small random parameters (a reference of at most a few thousand states)."""
    task = draw(st.sampled_from(["Remember", "Count", "Repeat"]))
    n_min = draw(st.integers(2 if task == "Repeat" else 1, n_max))
    n_range = (n_min, draw(st.integers(n_min, n_max)))
    if task == "Remember":
        kwargs = {"num_cards": draw(st.integers(1, cards)), "n_range": n_range}
    elif task == "Count":
        kwargs = {"n_range": n_range, "max_ones": draw(st.integers(0, n_range[1] + 2))}
    else:
        kwargs = {
            "num_cards": draw(st.integers(1, cards)),
            "lag": draw(st.integers(1, min(n_min - 1, 4))),
            "n_range": n_range,
        }
    return f"memgym/{task}-v0", kwargs, kwargs


def reference_cases() -> st.SearchStrategy[tuple[str, dict, dict]]:
    """Presets (their reference built once) and small random parameters."""
    return st.one_of(preset_cases(), small_cases())


BUILDABLE_IDS = [env_id for env_id in memgym.ENV_IDS if env_id != "memgym/RepeatHard-v0"]


@functools.cache
def preset_reference(env_id: str) -> ReferenceMachine:
    return reference(env_id)


@functools.cache
def cached_reference(env_id: str, kwargs: tuple) -> ReferenceMachine | None:
    try:
        return reference(env_id, max_states=TEST_BUDGET, **dict(kwargs))
    except TooManyStates:
        return None


def reference_of(env_id: str, kwargs: dict) -> ReferenceMachine:
    machine = cached_reference(env_id, tuple(sorted(kwargs.items())))
    assume(machine is not None)
    return machine


def refined_size(machine: ReferenceMachine) -> int:
    """Classes after Moore partition refinement (the textbook minimisation), written here.

    Each round a state's new class is a random linear hash (mod 2**64) of its class and its
    successors' classes. Equal signatures always hash equal, so the result is never finer
    than the true partition: a count equal to ``num_states`` proves minimality.
    """
    weights = np.random.default_rng(0).integers(1, 2**63, size=machine.transitions.shape[1] + 1)
    weights = weights.astype(np.uint64) * np.uint64(2) + np.uint64(1)
    classes = np.unique(machine.outputs, return_inverse=True)[1].ravel()
    while True:
        signature = np.column_stack([classes, classes[machine.transitions]]).astype(np.uint64)
        hashed = (signature * weights).sum(axis=1, dtype=np.uint64)
        refined = np.unique(hashed, return_inverse=True)[1].ravel()
        if refined.max() == classes.max():
            return int(refined.max()) + 1
        classes = refined


def to_aalpy(machine: ReferenceMachine) -> MooreMachine:
    setup = {
        state: (int(machine.outputs[state]), dict(enumerate(machine.transitions[state].tolist())))
        for state in range(machine.num_states)
    }
    return MooreMachine.from_state_setup(setup)


def check_on(machine: ReferenceMachine, rollouts: memgym.Rollouts) -> None:
    run = machine.run(rollouts.act)
    assert np.array_equal(run[rollouts.mask], rollouts.target[rollouts.mask])
    # after the episode, the [end] padding keeps matching the target ([end])
    assert np.array_equal(run, rollouts.target)


@settings(max_examples=60, deadline=None)
@given(case=reference_cases(), seed=st.integers(0, 2**32 - 1))
def test_reference_gives_the_target_on_every_sampled_episode(case, seed):
    env_id, kwargs, _ = case
    machine = reference_of(env_id, kwargs)
    check_on(machine, batch_rollouts(env_id, 32, seed=seed, **kwargs))


@pytest.mark.parametrize("env_id", BUILDABLE_IDS)
def test_reference_of_every_id_gives_the_target(env_id):
    check_on(preset_reference(env_id), batch_rollouts(env_id, 256, seed=0))


@settings(max_examples=30, deadline=None)
@given(case=reference_cases(), data=st.data())
def test_reference_gives_the_target_on_every_episode_of_a_length(case, data):
    env_id, kwargs, params = case
    machine = reference_of(env_id, kwargs)
    n = data.draw(st.integers(*params["n_range"]))
    try:
        rollouts = all_episodes(env_id, n, limit=20_000, **kwargs)
    except ValueError:
        assume(False)
    check_on(machine, rollouts)


@settings(max_examples=40, deadline=None)
@given(case=reference_cases(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_invalid_continuations_reach_the_sink(case, seed, data):
    env_id, kwargs, params = case
    machine = reference_of(env_id, kwargs)
    rollouts = batch_rollouts(env_id, 1, seed=seed, **kwargs)
    act = rollouts.act[0].tolist()
    n = rollouts.lengths[0] - 1
    n_min, n_max = params["n_range"]
    ask = machine.act_tokens.index("[ask]")
    end = machine.act_tokens.index("[end]")
    broken = data.draw(
        st.sampled_from(
            [
                ("end before ask", [*act[:n], end]),
                ("payload after ask", [*act[: n + 1], act[0], end]),
                ("ask too early", [*act[: n_min - 1], ask]),
                ("payload too long", [*act[:n], *[act[n - 1]] * (n_max + 1 - n), ask]),
            ]
        )
    )[1]
    run = machine.run(np.array([[*broken, end]]))[0]
    assert run[-1] == -1 and run[-2] == -1  # the sink shows -1 and never leaves


@pytest.mark.parametrize("env_id", BUILDABLE_IDS)
def test_reference_is_minimal(env_id):
    machine = preset_reference(env_id)
    assert refined_size(machine) == machine.num_states


@settings(max_examples=25, deadline=None)
@given(case=small_cases(n_max=6, cards=3))
def test_reference_is_minimal_as_aalpy_minimises_it(case):
    env_id, kwargs, _ = case
    machine = reference_of(env_id, kwargs)
    automaton = to_aalpy(machine)
    automaton.minimize()
    assert automaton.size == machine.num_states == refined_size(machine)


def test_state_counts_of_the_presets_are_as_documented():
    counts = {
        env_id: preset_reference(env_id).num_states
        for env_id in memgym.PRESETS
        if env_id in BUILDABLE_IDS
    }
    assert counts == {
        "memgym/RememberEasy-v0": 71,
        "memgym/RememberMedium-v0": 1043,
        "memgym/RememberHard-v0": 16451,
        "memgym/CountEasy-v0": 56,
        "memgym/CountMedium-v0": 352,
        "memgym/CountHard-v0": 2212,
        "memgym/RepeatEasy-v0": 209,
        "memgym/RepeatMedium-v0": 5811,
        "memgym/ModCountEasy-v0": 37,
        "memgym/ModCountMedium-v0": 322,
        "memgym/ModCountHard-v0": 1787,
        "memgym/Tomita1-v0": 69,
        "memgym/Tomita2-v0": 69,
        "memgym/Tomita3-v0": 156,
        "memgym/Tomita4-v0": 127,
        "memgym/Tomita5-v0": 69,
        "memgym/Tomita6-v0": 99,
        "memgym/Tomita7-v0": 153,
        "memgym/AutomatonEasy-v0": 110,
        "memgym/AutomatonMedium-v0": 1976,
        "memgym/AutomatonHard-v0": 32462,
    }


def test_arrays_and_numbering():
    machine = preset_reference("memgym/RepeatEasy-v0")
    assert machine.transitions.dtype == machine.outputs.dtype == np.int64
    assert machine.transitions.shape == (machine.num_states, len(machine.act_tokens))
    assert machine.initial == 0 and machine.outputs[0] == -1
    assert machine.outputs.max() < len(machine.obs_tokens)
    assert np.array_equal(reference("memgym/RepeatEasy-v0").transitions, machine.transitions)


def test_too_many_states_raises_before_building():
    with pytest.raises(TooManyStates, match="max_states=10,000"):
        reference("memgym/RepeatHard-v0", max_states=10_000)
    with pytest.raises(ValueError, match="max_states=100"):
        reference("memgym/RepeatEasy-v0", max_states=100)


def test_bad_input():
    with pytest.raises(ValueError, match="needs a memgym env id"):
        reference("CartPole-v1")
    machine = preset_reference("memgym/CountEasy-v0")
    with pytest.raises(ValueError, match="act token ids must lie in 0 … 3"):
        machine.run(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        machine.run(np.array([0, 1]))
    with pytest.raises(TypeError, match="integer array of act token ids, got float32"):
        machine.run(np.zeros((1, 2), dtype=np.float32))


def test_to_dot_is_graphviz_text_without_the_sink():
    machine = preset_reference("memgym/CountEasy-v0")
    (graph,) = pydot.graph_from_dot_data(machine.to_dot())
    nodes = [node for node in graph.get_nodes() if node.get_name().startswith("s")]
    assert len(nodes) == machine.num_states - 1
    sink = np.flatnonzero(machine.outputs == -1)[1]  # state 0 is the initial state
    kept = np.arange(machine.num_states) != sink
    edges = sum(len(edge.get_label().strip('"').split(", ")) for edge in graph.get_edges())
    assert edges == int((machine.transitions[kept] != sink).sum())


def test_refinement_finds_a_duplicated_state():
    machine = preset_reference("memgym/CountEasy-v0")
    doubled = ReferenceMachine(
        transitions=np.vstack([machine.transitions, machine.transitions[1:2]]),
        outputs=np.append(machine.outputs, machine.outputs[1]),
        initial=0,
        act_tokens=machine.act_tokens,
        obs_tokens=machine.obs_tokens,
    )
    assert refined_size(doubled) == machine.num_states


@functools.cache
def every_length(env_id: str) -> ReferenceMachine:
    return reference(env_id, every_length=True)


@pytest.mark.parametrize("env_id", BUILDABLE_IDS)
def test_every_length_reference_gives_the_target_at_any_length_and_is_minimal(env_id):
    machine = every_length(env_id)
    for factor in (1, 10):
        kwargs = memgym.scaled_length_kwargs(env_id, factor)
        check_on(machine, batch_rollouts(env_id, 64, seed=factor, **kwargs))
    assert refined_size(machine) == machine.num_states
    assert machine.num_states <= preset_reference(env_id).num_states


@settings(max_examples=40, deadline=None)
@given(case=small_cases(), seed=st.integers(0, 2**32 - 1), longer=st.integers(1, 40))
def test_every_length_reference_of_small_tasks_holds_past_n_max(case, seed, longer):
    env_id, kwargs, _ = case
    machine = reference(env_id, every_length=True, max_states=TEST_BUDGET, **kwargs)
    n_min, n_max = kwargs["n_range"]
    far = {**kwargs, "n_range": (n_min, n_max + longer)}
    check_on(machine, batch_rollouts(env_id, 16, seed=seed, **far))
    assert refined_size(machine) == machine.num_states


def test_every_length_reference_accepts_what_the_bounded_one_refuses():
    bounded, unbounded = reference("memgym/RepeatEasy-v0"), every_length("memgym/RepeatEasy-v0")
    long = batch_rollouts("memgym/RepeatEasy-v0", 8, seed=0, n_range=(40, 40))
    assert (bounded.run(long.act)[:, -1] == -1).all()  # 40 cards is past n_max = 16: the sink
    check_on(unbounded, long)
    early = np.array([[0, 0, unbounded.act_tokens.index("[ask]")]])  # [ask] before n_min
    assert unbounded.run(early)[0, -1] == -1
