"""ModCount, Tomita and Automaton: answers against definitions written here, errors, checkers."""

from __future__ import annotations

import itertools
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import memgym
from memgym import batch_rollouts

NEW_IDS = [
    env_id
    for env_id in memgym.ENV_IDS
    if env_id.startswith(("memgym/ModCount", "memgym/Tomita", "memgym/Automaton"))
]


def odd_ones_then_odd_zeros(word: str) -> bool:
    """Whether an odd-length maximal block of 1s is followed, later, by one of 0s."""
    blocks = [(bit, len(list(run))) for bit, run in itertools.groupby(word)]
    odd_ones = [i for i, (bit, size) in enumerate(blocks) if bit == "1" and size % 2]
    odd_zeros = [i for i, (bit, size) in enumerate(blocks) if bit == "0" and size % 2]
    return bool(odd_ones and odd_zeros and odd_ones[0] < odd_zeros[-1])


TOMITA = {
    1: lambda w: "0" not in w,
    2: lambda w: w == "10" * (len(w) // 2),
    3: lambda w: not odd_ones_then_odd_zeros(w),
    4: lambda w: "000" not in w,
    5: lambda w: w.count("0") % 2 == 0 and w.count("1") % 2 == 0,
    6: lambda w: (w.count("0") - w.count("1")) % 3 == 0,
    7: lambda w: re.fullmatch("0*1*0*1*", w) is not None,
}


def payload_and_answer(rollouts, row):
    n = rollouts.lengths[row] - 1
    payload = [rollouts.act_tokens[a] for a in rollouts.act[row, :n]]
    assert rollouts.act_tokens[rollouts.act[row, n]] == "[ask]"
    return payload, rollouts.obs_tokens[rollouts.answers[row]]


def check_framing(rollouts):
    for row in range(len(rollouts)):
        n = rollouts.lengths[row] - 1
        assert [rollouts.obs_tokens[o] for o in rollouts.target[row, :n]] == ["[wait]"] * n
        assert set(rollouts.target[row, n + 1 :].tolist()) <= {1}  # [end]


def lengths() -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(1, 12), st.integers(0, 12)).map(lambda p: (p[0], p[0] + p[1]))


@settings(max_examples=40, deadline=None)
@given(modulus=st.integers(2, 9), n_range=lengths(), seed=st.integers(0, 2**32 - 1))
def test_modcount_answers_are_the_ones_modulo(modulus, n_range, seed):
    rollouts = batch_rollouts("memgym/ModCount-v0", 16, seed, modulus=modulus, n_range=n_range)
    check_framing(rollouts)
    for row in range(len(rollouts)):
        payload, answer = payload_and_answer(rollouts, row)
        assert set(payload) <= {"0", "1"}
        assert n_range[0] <= len(payload) <= n_range[1]
        assert answer == str(payload.count("1") % modulus)


@settings(max_examples=60, deadline=None)
@given(grammar=st.integers(1, 7), n_range=lengths(), seed=st.integers(0, 2**32 - 1))
def test_tomita_answers_follow_the_grammar(grammar, n_range, seed):
    rollouts = batch_rollouts("memgym/Tomita-v0", 16, seed, grammar=grammar, n_range=n_range)
    check_framing(rollouts)
    for row in range(len(rollouts)):
        payload, answer = payload_and_answer(rollouts, row)
        assert n_range[0] <= len(payload) <= n_range[1]
        assert answer == ("[accept]" if TOMITA[grammar]("".join(payload)) else "[reject]")


def test_tomita_oracle_matches_the_grammar_dfas_on_every_short_string():
    for grammar in range(1, 8):
        task = memgym.memgym_task("memgym/Tomita-v0", grammar=grammar, n_range=(1, 10))
        for n in range(1, 11):
            act, lengths_ = task.enumerate(n)
            words = ["".join(map(str, row[:n])) for row in act.tolist()]
            expected = np.where([TOMITA[grammar](w) for w in words], 2, 3)
            assert np.array_equal(task.answers(act, lengths_), expected), (grammar, n)


@pytest.mark.parametrize("grammar", range(1, 8))
def test_tomita_answers_are_balanced(grammar):
    rollouts = batch_rollouts(f"memgym/Tomita{grammar}-v0", 20_000, seed=grammar)
    accepted = np.mean(rollouts.answers == 2)
    assert abs(accepted - 0.5) < 0.02


def test_tomita_with_one_possible_answer_gives_only_that_answer():
    rollouts = batch_rollouts("memgym/Tomita-v0", 200, seed=0, grammar=2, n_range=(3, 3))
    assert set(rollouts.answers.tolist()) == {3}  # (10)* has no string of length 3


def run_moore(transitions, outputs, symbols):
    state = 0
    for symbol in symbols:
        state = transitions[state][symbol]
    return outputs[state]


@settings(max_examples=40, deadline=None)
@given(
    num_states=st.integers(2, 12),
    num_symbols=st.integers(1, 4),
    num_outputs=st.integers(2, 4),
    machine_seed=st.integers(0, 1000),
    n_range=lengths(),
    seed=st.integers(0, 2**32 - 1),
)
def test_automaton_answers_are_the_machine_output(
    num_states, num_symbols, num_outputs, machine_seed, n_range, seed
):
    kwargs = {
        "num_states": num_states,
        "num_symbols": num_symbols,
        "num_outputs": num_outputs,
        "machine_seed": machine_seed,
        "n_range": n_range,
    }
    try:
        task = memgym.memgym_task("memgym/Automaton-v0", **kwargs)
    except ValueError as error:  # a one-symbol machine may have no minimal draw
        assert num_symbols == 1 and "no minimal Moore machine" in str(error)
        return
    transitions, outputs = task.transitions.tolist(), task.outputs.tolist()
    # every state reachable, and no two states equivalent (compared on all short words)
    reached, frontier = {0}, [0]
    while frontier:
        frontier = [t for s in frontier for t in transitions[s] if t not in reached]
        reached.update(frontier)
    assert reached == set(range(num_states))
    rollouts = batch_rollouts("memgym/Automaton-v0", 16, seed, **kwargs)
    check_framing(rollouts)
    for row in range(len(rollouts)):
        payload, answer = payload_and_answer(rollouts, row)
        symbols = [int(name.removeprefix("[symbol ").removesuffix("]")) for name in payload]
        assert answer == f"[output {run_moore(transitions, outputs, symbols)}]"


def test_automaton_machine_depends_only_on_machine_seed():
    a = memgym.memgym_task("memgym/AutomatonMedium-v0")
    b = memgym.memgym_task("memgym/AutomatonMedium-v0")
    c = memgym.memgym_task("memgym/AutomatonMedium-v0", machine_seed=1)
    assert np.array_equal(a.transitions, b.transitions)
    assert not np.array_equal(a.transitions, c.transitions)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("memgym/ModCount-v0", {"modulus": 1}, "modulus must be at least 2"),
        ("memgym/ModCount-v0", {"modulus": 2.5}, "modulus must be an integer"),
        ("memgym/Tomita-v0", {"grammar": 0}, "grammar must be one of the Tomita grammars 1 … 7"),
        ("memgym/Tomita-v0", {"grammar": 8}, "grammar must be one of the Tomita grammars 1 … 7"),
        ("memgym/Automaton-v0", {"num_states": 1}, "num_states must be at least 2"),
        ("memgym/Automaton-v0", {"num_symbols": 0}, "num_symbols must be at least 1"),
        ("memgym/Automaton-v0", {"num_outputs": 1}, "num_outputs must be at least 2"),
        ("memgym/Automaton-v0", {"machine_seed": -1}, "machine_seed must be at least 0"),
        ("memgym/Automaton-v0", {"machine_seed": "x"}, "machine_seed must be an integer"),
        ("memgym/ModCount-v0", {"n_range": (5, 4)}, "n_range"),
    ],
)
def test_bad_parameters_name_the_parameter(env_id, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_new_ids_pass_gymnasium_and_sb3_checkers(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id).unwrapped, skip_render_check=False)
        sb3_check_env(gym.make(env_id).unwrapped)


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_render_shows_the_token_names(env_id):
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    env.step(0)
    text = env.render()
    assert text.splitlines()[1].startswith("act") and "[wait]" in text


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_env_plays_the_generator_rows(env_id):
    rollouts = batch_rollouts(env_id, memgym.EPISODES_PER_DRAW, seed=3)
    env = gym.make(env_id)
    act, info = env.reset(seed=3)
    acts, targets, terminated = [int(act)], [info["target"]], False
    while not terminated:
        act, reward, terminated, _, info = env.step(targets[-1])
        acts.append(int(act))
        targets.append(info["target"])
    assert reward == 1.0
    steps = rollouts.lengths[0]
    assert acts[:steps] == rollouts.act[0, :steps].tolist()
    assert targets[:steps] == rollouts.target[0, :steps].tolist()
