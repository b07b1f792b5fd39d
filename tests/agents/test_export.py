"""Export of the extracted automaton: minimal Moore machines, DOT text, AALpy round trips."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from handbuilt import count_model, remember_model, repeat_model
from references import core_reference

import memgym
from agents.automaton import Automaton, TooManyStates
from agents.export import MISS_NAME, MooreTable, moore_machine
from memgym import CountCore, RememberCore, RepeatCore

CASES = {
    "Remember": (lambda: remember_model(3), lambda: RememberCore(3)),
    "Count": (lambda: count_model(5), lambda: CountCore(5)),
    "Repeat": (lambda: repeat_model(3, 2), lambda: RepeatCore(3, 2)),
}


def reference_table(reference, episode_end=None) -> MooreTable:
    """The reference machine as a MooreTable (outputs by name, None where −1), its
    ``episode_end`` transitions sent to the sink (state 1)."""
    transitions = reference.transitions.copy()
    if episode_end is not None:
        transitions[:, reference.act_tokens.index(episode_end)] = 1
    outputs = tuple(None if o < 0 else reference.obs_tokens[o] for o in reference.outputs)
    return MooreTable(transitions, outputs, reference.act_tokens, reference.initial, 1)


def aalpy_outputs(machine, names):
    machine.reset_to_initial()
    return [machine.step(name) for name in names]


@pytest.mark.parametrize("name", CASES)
def test_a_correct_automaton_exports_to_the_minimal_reference_machine(name):
    model, core = CASES[name]
    automaton, reference = Automaton.from_model(model()), core_reference(core())
    for episode_end in (None, "[end]"):
        if name == "Count" and episode_end is None:
            continue  # its hand-built automaton shows nothing after [end]
        names = (reference.act_tokens, reference.obs_tokens)
        exported = moore_machine(automaton, *names, reference, episode_end=episode_end)
        minimal = reference_table(reference, episode_end).minimise()
        assert len(exported) == len(minimal) < len(reference.outputs)
        aalpy_reference = minimal.to_aalpy()
        aalpy_reference.minimize()
        assert aalpy_reference.size == len(minimal)  # AALpy's minimisation agrees with ours
        exported_aalpy = exported.to_aalpy()
        for stream in itertools.product(range(len(reference.act_tokens)), repeat=4):
            names = [reference.act_tokens[t] for t in stream]
            want = minimal.run(list(stream))
            assert exported.run(list(stream)) == want
            assert aalpy_outputs(exported_aalpy, names) == want


@pytest.mark.parametrize("name", CASES)
def test_export_without_reference_shows_what_the_automaton_names(name):
    model, core = CASES[name]
    automaton, task_core = Automaton.from_model(model()), core()
    act_tokens, obs_tokens = task_core.act_tokens, task_core.obs_tokens
    exported = moore_machine(automaton, act_tokens, obs_tokens)
    machine = exported.to_aalpy()
    rng = np.random.default_rng(0)
    act = rng.integers(len(act_tokens), size=(200, 8))
    predictions = automaton.run(act).predictions
    for stream, predicted in zip(act, predictions, strict=True):
        want = [MISS_NAME if p < 0 else obs_tokens[p] for p in predicted]
        assert exported.run(list(stream)) == want
        assert aalpy_outputs(machine, [act_tokens[t] for t in stream]) == want
    assert exported.sink is None
    assert len(exported) == len(exported.minimise())  # already minimal


def test_minimise_merges_equivalent_states_drops_unreachable_ones_numbers_breadth_first():
    # states 1 and 2 are twins; state 4 is unreachable
    table = MooreTable(
        transitions=np.array([[1, 2], [3, 0], [3, 0], [3, 3], [0, 0]]),
        outputs=("a", "b", "b", "c", "d"),
        act_tokens=("p", "q"),
    )
    minimal = table.minimise()
    assert len(minimal) == 3
    assert minimal.outputs == ("a", "b", "c")
    np.testing.assert_array_equal(minimal.transitions, [[1, 1], [2, 0], [2, 2]])


def test_dot_text_names_states_outputs_and_tokens():
    automaton, reference = Automaton.from_model(remember_model(2)), core_reference(RememberCore(2))
    exported = moore_machine(automaton, reference.act_tokens, reference.obs_tokens, reference)
    dot = exported.to_dot()
    assert dot.startswith("digraph automaton {") and dot.rstrip().endswith("}")
    assert "start -> s0;" in dot
    assert 's1 [label="s1\\n[wait]"];' in dot
    assert '[label="[card 0]"]' in dot and '[label="[wait]"]' in dot
    assert f"s{exported.sink}" not in dot  # the sink and invalid continuations are left out
    nodes = [line for line in dot.splitlines() if "[label=" in line and "->" not in line]
    assert len(nodes) == len(exported) - 1


def test_the_state_cap_and_bad_names_are_clear_errors():
    automaton = Automaton.from_model(repeat_model(3, 2))
    core = RepeatCore(3, 2)
    with pytest.raises(TooManyStates, match="more than 5 states"):
        moore_machine(automaton, core.act_tokens, core.obs_tokens, max_states=5)
    with pytest.raises(ValueError, match="token names"):
        moore_machine(automaton, core.act_tokens[:-1], core.obs_tokens)


@pytest.mark.parametrize(
    ("env_id", "model"),
    [
        ("memgym/RememberEasy-v0", lambda: remember_model(4)),
        ("memgym/RepeatEasy-v0", lambda: repeat_model(4, 2)),
    ],
)
def test_export_of_a_correct_automaton_has_the_presets_minimal_state_count(env_id, model):
    reference = memgym.reference(env_id)
    automaton = Automaton.from_model(model())
    names = (reference.act_tokens, reference.obs_tokens)
    exported = moore_machine(automaton, *names, reference, episode_end=None)
    assert len(exported) == reference.num_states
    # stopped at [end], the state after it joins the sink
    assert len(moore_machine(automaton, *names, reference)) == reference.num_states - 1
