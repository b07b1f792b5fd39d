"""Automaton extraction: thresholding, exact boolean runs, verification and the drawing."""

from __future__ import annotations

import numpy as np
import pytest
from handbuilt import remember_model

import agents.verify
from agents.extract import MISS, Automaton, TooManyStates, draw, hand_built_bits, verify
from memgym import all_episodes, memgym_task

ENV = "memgym/RememberEasy-v0"


def test_hand_built_remember_verifies_and_uses_its_states():
    automaton = Automaton.from_model(remember_model(4))
    result = verify(automaton, ENV, random_episodes=2000)
    assert result.verified
    assert result.exhaustive_lengths == list(range(4, 17))
    assert result.exhaustive_episodes == 4 * 13
    assert result.random_answer_accuracy == 1.0
    assert len(result.used_bits) == 10  # start, 4 holding, 4 answering, done
    assert result.num_states == 10
    assert result.hand_built_bits == hand_built_bits(memgym_task(ENV)) == 8
    assert "sampled check" in result.summary() and "passed" in result.summary()
    assert "2,000 random episodes at 10x length" in result.summary()


def test_run_follows_boolean_algebra_and_misses_on_ambiguous_output():
    automaton = Automaton.from_model(remember_model(2))
    episodes = all_episodes("memgym/Remember-v0", 3, num_cards=2, n_range=(3, 3))
    trace = automaton.run(episodes.act)
    np.testing.assert_array_equal(trace.predictions, episodes.target)
    both = Automaton(automaton.A, automaton.C | automaton.C[[0]], automaton.x0)
    assert (both.run(episodes.act).predictions[:, :3] == MISS).all()  # [wait] and a card at once


def test_a_wrong_transition_fails_verification():
    automaton = Automaton.from_model(remember_model(4))
    A = automaton.A.copy()
    A[4, 1, 1] = False  # [wait] forgets card 0
    result = verify(Automaton(A, automaton.C, automaton.x0), ENV, random_episodes=500)
    assert not result.verified
    assert result.exhaustive_errors == 13  # every episode that shows card 0


def test_env_mismatch_is_a_clear_error():
    automaton = Automaton.from_model(remember_model(3))
    with pytest.raises(ValueError, match="does not match"):
        verify(automaton, ENV, random_episodes=10)


def test_draw_writes_png(tmp_path):
    automaton = Automaton.from_model(remember_model(2))
    task = memgym_task("memgym/Remember-v0", num_cards=2, n_range=(2, 4))
    path = draw(automaton, tmp_path / "a.png", task.act_tokens, task.obs_tokens, [0, 1, 2, 3])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("seed", range(4))
def test_simulate_matches_run_on_random_automata(seed):
    rng = np.random.default_rng(seed)
    D, V_act, V_obs = 12, 3, 4
    automaton = Automaton(
        rng.random((V_act, D, D)) < 0.15, rng.random((V_obs, D)) < 0.2, rng.random(D) < 0.3
    )
    act = rng.integers(V_act, size=(50, 9))
    trace = automaton.run(act)
    predictions, states = automaton.simulate(act)
    np.testing.assert_array_equal(predictions, trace.predictions)
    assert {x.tobytes() for x in states} == {x.tobytes() for x in trace.states}
    assert len(states) == len(trace.states)


def test_verify_gives_the_same_result_from_the_state_table_or_simulated(monkeypatch):
    exact = Automaton.from_model(remember_model(4))
    A = exact.A.copy()
    A[4, 1, 1] = False  # [wait] forgets card 0
    for automaton in (exact, Automaton(A, exact.C, exact.x0)):
        tabled = verify(automaton, ENV, random_episodes=500)
        with pytest.raises(TooManyStates, match="more than 3 states"):
            automaton.run(all_episodes(ENV, 4).act, max_states=3)
        monkeypatch.setattr(agents.verify, "TABLE_STATES", 3)
        assert verify(automaton, ENV, random_episodes=500) == tabled
        monkeypatch.undo()


def test_successors_match_step():
    rng = np.random.default_rng(1)
    D, V = 9, 4
    automaton = Automaton(
        rng.random((V, D, D)) < 0.2, rng.random((3, D)) < 0.3, rng.random(D) < 0.3
    )
    x = rng.random((7, D)) < 0.4
    tokens = np.array([3, 1])
    nxt = automaton.successors(x, tokens)
    assert nxt.shape == (7, 2, D)
    for i in range(7):
        for k, token in enumerate(tokens):
            np.testing.assert_array_equal(nxt[i, k], automaton.step(x[i], token))
    np.testing.assert_array_equal(automaton.successors(x)[:, tokens], nxt)
    np.testing.assert_array_equal(automaton.predict(x), [automaton.predict(row) for row in x])


def test_the_summary_says_when_no_length_was_checked_exhaustively():
    none = agents.verify.Verification(random_episodes=10).summary()
    assert "none checked: the shortest length has more than the budget" in none
    assert "no length" not in none and "wrong of 0" not in none
    some = agents.verify.Verification(exhaustive_lengths=[4, 5], exhaustive_episodes=48).summary()
    assert "every episode, n = 4..5" in some and "0 wrong of 48" in some
