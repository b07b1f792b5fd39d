"""The deterministic cores, fed by hand."""

from __future__ import annotations

from memgym import CountCore, RememberCore, RepeatCore


def feed(core, names):
    core.reset()
    return [core.obs_tokens[core.feed(core.act_tokens.index(name))] for name in names]


def test_remember_core():
    core = RememberCore(num_cards=3)
    stream = ["[card 2]", "[wait]", "[wait]", "[ask]", "[end]", "[end]"]
    assert feed(core, stream) == ["[wait]"] * 3 + ["[card 2]", "[end]", "[end]"]
    assert core.get_state().tolist() == [2, 1]
    core.reset()
    assert core.get_state().tolist() == [-1, 0]


def test_count_core():
    core = CountCore(max_ones=3)
    stream = ["1", "0", "1", "1", "0", "[ask]", "[end]"]
    assert feed(core, stream) == ["[wait]"] * 5 + ["3", "[end]"]
    assert core.get_state().tolist() == [3, 1]


def test_repeat_core():
    core = RepeatCore(num_cards=4, lag=2)
    stream = ["[card 1]", "[card 3]", "[card 0]", "[ask]", "[end]"]
    assert feed(core, stream) == ["[wait]"] * 3 + ["[card 3]", "[end]"]
    assert core.get_state().tolist() == [3, 0, 1]
