"""The product proof: hand-built automata proved for every length, shortest counterexamples,
the state budget, and the breadth-first product search against a plain search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from handbuilt import count_model, remember_model, repeat_model
from references import CoreReference, core_reference

import memgym
from agents.automaton import MISS, Automaton
from agents.extract import prove
from agents.product import explore
from memgym import CountCore, RememberCore, RepeatCore

CASES = {
    "Remember": (lambda: remember_model(4), lambda: RememberCore(4)),
    "Count": (lambda: count_model(8), lambda: CountCore(8)),
    "Repeat": (lambda: repeat_model(3, 3), lambda: RepeatCore(3, 3)),
}


def case(name: str) -> tuple[Automaton, CoreReference]:
    model, core = CASES[name]
    return Automaton.from_model(model()), core_reference(core())


def valid_streams(reference: CoreReference, length: int, episode_end: str | None):
    """Every act stream of ``length`` tokens the reference accepts (a plain search)."""
    end = None if episode_end is None else reference.act_tokens.index(episode_end)
    tokens = range(len(reference.act_tokens))
    for stream in itertools.product(tokens, repeat=length):
        if end in stream or min(reference.run(list(stream)), default=0) < 0:
            continue
        yield list(stream)


def first_wrong(automaton, reference, max_length, episode_end="[end]"):
    """The length of the shortest valid stream the automaton gets wrong, by a plain search."""
    for length in range(1, max_length + 1):
        streams = list(valid_streams(reference, length, episode_end))
        if not streams:
            return None
        predictions = automaton.run(np.array(streams)).predictions[:, -1]
        expected = np.array([reference.run(s)[-1] for s in streams])
        if (predictions != expected).any():
            return length
    return None


@pytest.mark.parametrize("name", CASES)
def test_hand_built_automata_are_proved(name):
    automaton, reference = case(name)
    proof = prove(automaton, reference)
    assert proof.proved and "proved equal" in proof.summary()
    # one automaton state for each reference state but the sink and those after [end]
    after_end = reference.outputs == 1
    assert proof.product_states == len(reference.outputs) - 1 - after_end.sum()
    if name != "Count":  # Count's hand-built automaton has no bit for [end] (test below)
        proof = prove(automaton, reference, episode_end=None)
        assert proof.proved and proof.product_states == len(reference.outputs) - 1


def test_count_without_a_done_bit_fails_after_end_only():
    automaton, reference = case("Count")
    proof = prove(automaton, reference, episode_end=None)
    assert proof.status == "counterexample"
    assert [reference.act_tokens[t] for t in proof.stream] == ["0", "[ask]", "[end]"]
    assert (proof.expected, proof.predicted) == (1, MISS)
    assert "0 [ask] [end] -> reference [end], automaton no obs token" in proof.summary()


@pytest.mark.parametrize(
    ("name", "token", "row", "column"),
    [
        ("Remember", 4, 2, 2),  # [wait] forgets card 1
        ("Count", 1, 4, 3),  # the third 1 is lost
        ("Repeat", 1, 7, 4),  # card 1 stops moving from slot 1 to slot 2
    ],
)
def test_a_broken_automaton_gives_a_shortest_counterexample(name, token, row, column):
    automaton, reference = case(name)
    A = automaton.A.copy()
    assert A[token, row, column]
    A[token, row, column] = False
    broken = Automaton(A, automaton.C, automaton.x0)
    proof = prove(broken, reference)
    assert proof.status == "counterexample"
    stream = list(proof.stream)
    assert reference.run(stream)[-1] == proof.expected != proof.predicted
    assert broken.run(np.array([stream])).predictions[0, -1] == proof.predicted
    assert first_wrong(broken, reference, len(stream)) == len(stream)


def test_budget_exceeded_is_said():
    automaton, reference = case("Repeat")
    full = prove(automaton, reference)
    proof = prove(automaton, reference, max_product_states=full.product_states - 1)
    assert proof.status == "budget exceeded" and not proof.proved
    assert proof.product_states == full.product_states - 1
    assert "product over budget: sampled check only" in proof.summary()
    assert prove(automaton, reference, max_product_states=full.product_states).proved


def test_a_counterexample_within_the_budget_is_still_given():
    automaton, reference = case("Remember")
    C = automaton.C.copy()
    C[0, 1] = False  # holding card 0 shows nothing
    proof = prove(Automaton(automaton.A, C, automaton.x0), reference, max_product_states=3)
    assert proof.status == "counterexample" and len(proof.stream) == 1


def test_reference_that_does_not_fit_is_a_clear_error():
    automaton, reference = case("Remember")
    other = core_reference(RememberCore(3))
    with pytest.raises(ValueError, match="act tokens"):
        prove(automaton, other)
    with pytest.raises(ValueError, match="episode_end='\\[stop\\]' is not an act token"):
        prove(automaton, reference, episode_end="[stop]")


@pytest.mark.parametrize("seed", range(6))
def test_explore_finds_the_states_of_a_plain_search(seed, monkeypatch):
    """On random automata and a random reference, the level-by-level vectorised search (with
    tiny chunks, so levels span several) reaches the same pairs, in breadth-first order, as a
    plain one-pair-at-a-time search."""
    monkeypatch.setattr("agents.product.CHUNK", 3)
    rng = np.random.default_rng(seed)
    V, O, D, S = 3, 3, 7, 5
    A, C, x0 = rng.random((V, D, D)) < 0.25, rng.random((O, D)) < 0.3, rng.random(D) < 0.4
    automaton = Automaton(A, C, x0)
    transitions = rng.integers(0, S, size=(S, V))
    outputs = rng.integers(-1, O, size=S)
    outputs[0] = -1
    reference = CoreReference(transitions, outputs, 0, ("a", "b", "c"), ("x", "y", "z"))
    product = explore(automaton, reference)
    depth, seen, frontier = {}, set(), [(0, automaton.x0)]
    key = lambda r, x: (r, x.tobytes())  # noqa: E731
    seen.add(key(*frontier[0]))
    level = 0
    while frontier:
        for r, x in frontier:
            depth[key(r, x)] = level
        nxt = []
        for r, x in frontier:
            for a in range(V):
                r2 = transitions[r, a]
                if outputs[r2] < 0:
                    continue
                x2 = automaton.step(x, a)
                if key(r2, x2) not in seen:
                    seen.add(key(r2, x2))
                    nxt.append((r2, x2))
        frontier, level = nxt, level + 1
    found = [key(int(r), x) for r, x in zip(product.reference_states, product.states, strict=True)]
    assert set(found) == seen and len(found) == len(seen) and product.complete
    assert [depth[k] for k in found] == sorted(depth[k] for k in found)
    for state, k in enumerate(found):
        assert len(product.stream(state)) == depth[k]
    wrong = (product.expected >= 0) & (product.predicted != product.expected)
    assert product.mismatch == (int(np.flatnonzero(wrong)[0]) if wrong.any() else None)
    table = product.transitions()
    for state, (r, x) in enumerate(zip(product.reference_states, product.states, strict=True)):
        for a in range(V):
            target = table[state, a]
            if outputs[transitions[r, a]] < 0:
                assert target == -1
            else:
                assert found[target] == key(int(transitions[r, a]), automaton.step(x, a))


@pytest.mark.parametrize(
    ("env_id", "model", "product_states", "entry"),
    [
        ("memgym/RememberEasy-v0", lambda: remember_model(4), 69, (4, 1, 1)),  # [wait] forgets
        ("memgym/CountEasy-v0", lambda: count_model(8), 54, (1, 2, 1)),  # the first 1 is lost
        ("memgym/RepeatEasy-v0", lambda: repeat_model(4, 2), 249, (0, 1, 0)),  # card 0 unread
    ],
)
def test_hand_built_automata_equal_the_presets_reference_machines(
    env_id, model, product_states, entry
):
    reference = memgym.reference(env_id)
    automaton = Automaton.from_model(model())
    proof = prove(automaton, reference)
    assert proof.proved and proof.product_states == product_states
    A = automaton.A.copy()
    assert A[entry]
    A[entry] = False
    broken = prove(Automaton(A, automaton.C, automaton.x0), reference)
    assert broken.status == "counterexample"
    stream = np.array([broken.stream])
    assert reference.run(stream)[0, -1] == broken.expected != broken.predicted


@pytest.mark.parametrize(
    ("env_id", "model"),
    [
        ("memgym/RememberEasy-v0", lambda: remember_model(4)),
        ("memgym/CountEasy-v0", lambda: count_model(8)),
        ("memgym/RepeatEasy-v0", lambda: repeat_model(4, 2)),
    ],
)
def test_a_proof_against_the_every_length_reference_holds_past_n_max(env_id, model):
    automaton = Automaton.from_model(model())
    proof = prove(automaton, memgym.reference(env_id, every_length=True))
    assert proof.proved
    # what the proof claims, sampled: right on episodes ten times as long as the preset's
    long = memgym.batch_rollouts(env_id, 64, seed=0, **memgym.scaled_length_kwargs(env_id, 10))
    predicted = automaton.run(long.act).predictions
    assert np.array_equal(predicted[long.mask], long.target[long.mask])
