"""RPNI's state merging from a batch, and the model rewritten as the merged machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import agents.merge
from agents.extract import Automaton, prove
from agents.merge import MIN_WORK, UNKNOWN, WORK_PER_NODE, merge_states, prefix_tree, work_budget
from agents.model import BooleanRNN
from agents.reencode import merged_reencode, write_machine
from agents.resample import MERGED, resample_dormant_bits
from agents.train import every_length_rollouts, to_tensors
from memgym import batch_rollouts, reference
from memgym.automata import random_moore_machine, run_to
from tests.agents.handbuilt import still_model

RANDOM_MACHINES = (
    ("memgym/AutomatonEasy-v0", {}),
    ("memgym/Tomita6-v0", {}),  # (#0 − #1) ≡ 0 (mod 3): the gradient alone never learned it
    ("memgym/Automaton-v0", {"num_states": 6, "num_symbols": 3, "num_outputs": 3,
                             "machine_seed": 5, "n_range": [3, 12]}),
)  # fmt: skip


def arrays(env_id, episodes, seed, **kwargs):
    rollouts = batch_rollouts(env_id, episodes, seed=seed, **kwargs)
    return rollouts.act, rollouts.target, rollouts.mask


def num_act_tokens(env_id, **kwargs) -> int:
    return len(reference(env_id, **kwargs).act_tokens)


def written(transitions, outputs, num_obs: int, bits: int) -> BooleanRNN:
    model = BooleanRNN(transitions.shape[1], num_obs, bits).eval()
    write_machine(model, torch.optim.Adam(model.parameters()), transitions, 0, outputs, 40.0)
    return model


def shown(transitions, outputs, act):
    """The outputs a Moore machine (start state 0) shows after each prefix of ``act``."""
    steps = range(1, act.shape[1] + 1)
    return np.stack([outputs[run_to(transitions, act, np.full(len(act), t))] for t in steps], 1)


@pytest.mark.parametrize(("env_id", "kwargs"), RANDOM_MACHINES)
def test_merged_machine_is_proved_for_every_length(env_id, kwargs):
    machine = merge_states(*arrays(env_id, 2048, 0, **kwargs), num_act_tokens(env_id, **kwargs), 32)

    ref = reference(env_id, every_length=True, **kwargs)
    model = written(machine.transitions, machine.outputs, len(ref.obs_tokens), 32)
    assert prove(Automaton.from_model(model), ref).proved


@settings(max_examples=25, deadline=None)
@given(
    states=st.integers(2, 6),
    symbols=st.integers(1, 3),
    machine_seed=st.integers(0, 10_000),
    episodes=st.integers(1, 40),
    data_seed=st.integers(0, 10_000),
)
def test_merged_machine_agrees_with_every_target_of_its_batch(
    states, symbols, machine_seed, episodes, data_seed
):
    transitions, outputs = random_moore_machine(states, symbols, 3, machine_seed)
    rng = np.random.default_rng(data_seed)
    act = rng.integers(0, symbols, size=(episodes, 9))
    n = rng.integers(1, 10, size=episodes)
    mask = np.arange(9) < n[:, None]
    target = shown(transitions, outputs, act)

    machine = merge_states(act, target, mask, symbols, max_states=64)

    assert machine is not None
    np.testing.assert_array_equal(
        shown(machine.transitions, machine.outputs, act)[mask], target[mask]
    )


def test_prefix_tree_numbers_shorter_prefixes_first_and_labels_each():
    act = np.array([[0, 1, 1], [0, 0, 1], [1, 1, 0]])
    target = np.array([[5, 6, 7], [5, 8, 9], [4, 6, 6]])
    mask = np.array([[True, True, True], [True, True, False], [True, False, False]])

    children, labels = prefix_tree(act, target, mask, 2)

    assert children[0] == {0: 1, 1: 2}
    assert children[1] == {0: 3, 1: 4}
    assert children[4] == {1: 5}
    assert labels == [UNKNOWN, 5, 4, 8, 6, 7]


def test_prefix_tree_refuses_a_mask_with_a_gap():
    act = target = np.zeros((1, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="valid steps first"):
        prefix_tree(act, target, np.array([[True, False, True]]), 1)


def test_the_work_budget_grows_with_the_prefix_tree(monkeypatch):
    env_id = "memgym/AutomatonEasy-v0"
    act, target, mask = arrays(env_id, 512, 0)
    tokens = num_act_tokens(env_id)
    assert work_budget(10) == MIN_WORK and work_budget(10**7) == WORK_PER_NODE * 10**7

    monkeypatch.setattr(agents.merge, "MIN_WORK", 10)
    monkeypatch.setattr(agents.merge, "WORK_PER_NODE", 0)  # 10 steps: too few
    assert merge_states(act, target, mask, tokens, max_states=32) is None
    monkeypatch.setattr(agents.merge, "WORK_PER_NODE", 4)
    assert merge_states(act, target, mask, tokens, max_states=32) is not None


def test_merge_states_gives_up_on_a_bad_batch_or_past_its_budgets():
    env_id = "memgym/AutomatonEasy-v0"
    act, target, mask = arrays(env_id, 512, 0)
    tokens = num_act_tokens(env_id)
    same_prefix, two_targets = np.array([[0, 1], [0, 1]]), np.array([[2, 3], [2, 4]])
    assert merge_states(same_prefix, two_targets, np.ones((2, 2), bool), 2, 32) is None
    assert merge_states(act, target, mask, tokens, max_states=3) is None
    assert merge_states(act, target, mask, tokens, max_states=32, max_work=10) is None


def test_write_machine_runs_as_the_machine_and_refuses_one_too_large():
    transitions, outputs = random_moore_machine(5, 3, 4, 1)
    act = np.random.default_rng(0).integers(0, 3, size=(64, 20))

    model = written(transitions, outputs, 4, 8)

    np.testing.assert_array_equal(
        Automaton.from_model(model).run(act).predictions, shown(transitions, outputs, act)
    )
    with pytest.raises(ValueError, match="5 states does not fit 4 bits"):
        written(transitions, outputs, 4, 4)


def test_merged_reencode_leaves_a_model_too_small_untouched():
    env_id = "memgym/AutomatonEasy-v0"
    model = BooleanRNN(num_act_tokens(env_id), 4, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    batch = tuple(torch.as_tensor(a) for a in arrays(env_id, 512, 0))
    assert merged_reencode(model, torch.optim.Adam(model.parameters()), [batch], 40.0) == []
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_merged_reencode_writes_the_first_batch_that_merges_and_reads_no_further():
    env_id = "memgym/AutomatonEasy-v0"
    ref = reference(env_id, every_length=True)
    model = BooleanRNN(num_act_tokens(env_id), len(ref.obs_tokens), 32)
    good = tuple(torch.as_tensor(a) for a in arrays(env_id, 2048, 1))
    same_prefix = torch.tensor([[0, 1], [0, 1]])
    clashing = (same_prefix, torch.tensor([[2, 3], [2, 4]]), torch.ones(2, 2, dtype=torch.bool))

    def batches():
        yield clashing  # one prefix, two targets: no machine
        yield good
        pytest.fail("a batch after the one that merged was drawn")

    bits = merged_reencode(model, torch.optim.Adam(model.parameters()), batches(), 40.0)

    assert bits and prove(Automaton.from_model(model), ref).proved


def test_resampling_merges_a_model_that_learned_nothing_of_a_random_machine():
    """Where gradient descent stalls on a random machine: a state that never moves."""
    env_id = "memgym/AutomatonEasy-v0"
    ref = reference(env_id, every_length=True)
    model = still_model(len(ref.act_tokens), len(ref.obs_tokens), 32)  # the majority answer
    act, target, mask = (torch.as_tensor(a) for a in arrays(env_id, 2048, 1))

    done = resample_dormant_bits(
        model, torch.optim.Adam(model.parameters()), act, target, mask, torch.Generator()
    )

    assert [r.output for r in done][-1] == MERGED
    assert prove(Automaton.from_model(model), ref).proved


@pytest.mark.parametrize("env_id, kwargs", [
    ("memgym/ModCount-v0", {"modulus": 3, "n_range": (24, 48)}),
    ("memgym/Automaton-v0", {"num_states": 6, "num_symbols": 3, "num_outputs": 3,
                             "machine_seed": 5, "n_range": [16, 32]}),
])  # fmt: skip
def test_the_merge_reads_episodes_of_every_length_where_the_answers_lie_deep(env_id, kwargs):
    """Answers n_min or more tokens deep share no suffix: RPNI merges the batch into no small
    machine; episodes of every length hold the short streams that tell the states apart."""
    ref = reference(env_id, every_length=True, **kwargs)
    batch = to_tensors(batch_rollouts(env_id, 512, 1, **kwargs), torch.device("cpu"))
    every_length = every_length_rollouts(env_id, kwargs, 2048, 2)

    proved = []
    for merge_batches in (None, [to_tensors(every_length, torch.device("cpu"))]):
        model = still_model(len(ref.act_tokens), len(ref.obs_tokens), 32)
        optimizer = torch.optim.Adam(model.parameters())
        done = resample_dormant_bits(model, optimizer, *batch, torch.Generator(), 0, merge_batches)
        proved.append(prove(Automaton.from_model(model), ref).proved)
    assert proved == [False, True] and done[-1].output == MERGED
