"""Evaluation: accuracy at every length factor, the scan gap, and env mismatches."""

from __future__ import annotations

import pytest
from handbuilt import remember_model

from agents import evaluate as evaluate_module
from agents.baselines import RecurrentBaseline
from agents.errors import UsageError
from agents.evaluate import SCAN_GAP_COPIES, evaluate, scan_gap
from agents.model import BooleanRNN

ENV = "memgym/RememberEasy-v0"


def test_an_exact_automaton_scores_100_percent_at_every_length():
    result = evaluate(remember_model(4), ENV, episodes=300, long_episodes=20)
    assert result.accuracy == {1: 1.0, 4: 1.0, 10: 1.0, 100: 1.0}
    assert result.episodes == {1: 300, 4: 300, 10: 300, 100: 20}
    assert result.scan_gap is not None and result.scan_gap.differing_argmax == 0
    assert result.scan_gap.positions > 0
    assert "100x length" in result.summary()


def test_baselines_have_no_scan_gap():
    model = RecurrentBaseline("gru", 7, 6, 8)
    result = evaluate(model, ENV, episodes=50, long_episodes=5, factors=(1, 100))
    assert set(result.accuracy) == {1, 100} and result.scan_gap is None
    assert all(0.0 <= a <= 1.0 for a in result.accuracy.values())


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"episodes": 0}, "episodes must be a positive integer, got 0"),  # ZeroDivisionError
        ({"episodes": -5}, "episodes must be a positive integer, got -5"),  # "-0.00% of -5"
        ({"long_episodes": 0}, "long_episodes must be a positive integer, got 0"),
        ({"episodes": 2.5}, "episodes must be a positive integer, got 2.5"),
    ],
)
def test_episode_counts_must_be_positive(counts, message):
    with pytest.raises(UsageError, match=message):
        evaluate(remember_model(4), ENV, factors=(1,), **counts)


def test_a_device_this_machine_lacks_is_a_clear_error():
    with pytest.raises(UsageError, match="device 'cuda:99' is not available on this machine"):
        evaluate(remember_model(4), ENV, episodes=10, factors=(1,), device="cuda:99")


def test_model_for_another_env_is_a_clear_error():
    with pytest.raises(ValueError, match="does not match this env"):
        evaluate(remember_model(4), "memgym/CountEasy-v0", episodes=10, factors=(1,))


def test_scan_gap_sample_fits_the_memory_budget(monkeypatch):
    model = BooleanRNN(7, 6, 16)  # RememberEasy's vocabulary; episodes of up to 17 tokens
    cube = 4 * SCAN_GAP_COPIES * 16**3
    full = scan_gap(model, "memgym/RememberEasy-v0", {}, "cpu", episodes=64)
    # Room for three episodes padded to 32 tokens: the sample shrinks to three episodes.
    monkeypatch.setattr(evaluate_module, "SCAN_GAP_BYTES", cube * 32 * 3)
    small = scan_gap(model, "memgym/RememberEasy-v0", {}, "cpu", episodes=64)
    assert 0 < small.positions <= 3 * 17 < full.positions
    # Room for fewer tokens than one episode has: a prefix of one episode, padding included.
    monkeypatch.setattr(evaluate_module, "SCAN_GAP_BYTES", cube * 5)
    assert 0 < scan_gap(model, "memgym/RememberEasy-v0", {}, "cpu", episodes=64).positions <= 4
