"""The tasks written straight from their definition, on token names, for the tests.

Nothing here imports memgym: it restates the task definitions of docs/architecture.md so
that the package is checked against the definition, not against itself.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

DESIGN_PRESETS: dict[str, dict[str, Any]] = {
    "memgym/RememberEasy-v0": {"num_cards": 4, "n_range": (4, 16)},
    "memgym/RememberMedium-v0": {"num_cards": 16, "n_range": (16, 64)},
    "memgym/RememberHard-v0": {"num_cards": 64, "n_range": (64, 256)},
    "memgym/CountEasy-v0": {"n_range": (4, 8), "max_ones": 8},
    "memgym/CountMedium-v0": {"n_range": (8, 24), "max_ones": 24},
    "memgym/CountHard-v0": {"n_range": (16, 64), "max_ones": 64},
    "memgym/RepeatEasy-v0": {"num_cards": 4, "lag": 2, "n_range": (4, 16)},
    "memgym/RepeatMedium-v0": {"num_cards": 4, "lag": 4, "n_range": (8, 32)},
    "memgym/RepeatHard-v0": {"num_cards": 8, "lag": 8, "n_range": (16, 64)},
}
"""The presets of docs/architecture.md, with Count's cap on ``1`` s at its default ``n_max``."""


def task_of(env_id: str) -> str:
    """``memgym/RepeatHard-v0`` → ``Repeat``."""
    return next(task for task in ("Remember", "Count", "Repeat") if task in env_id)


def cards(params: dict[str, Any]) -> list[str]:
    """The card token names of a task with ``num_cards`` cards."""
    return [f"[card {i}]" for i in range(params["num_cards"])]


def expected_obs(task: str, params: dict[str, Any], acts: list[str]) -> list[str]:
    """``o_1 … o_L``: the obs shown after each act of a valid stream ``a_0 … a_{L-1}``."""
    n = acts.index("[ask]")
    payload = acts[:n]
    if task == "Remember":
        answer = payload[0]
    elif task == "Count":
        answer = str(payload.count("1"))
    else:
        answer = payload[n - params["lag"]]
    return ["[wait]"] * n + [answer] + ["[end]"] * (len(acts) - n - 1)


def check_act_stream(task: str, params: dict[str, Any], acts: list[str]) -> int:
    """Assert that ``acts`` has the task's form (then ``[end]`` s); return its ``n``."""
    n = acts.index("[ask]")
    assert set(acts[n + 1 :]) <= {"[end]"}
    n_min, n_max = params["n_range"]
    assert n_min <= n <= n_max
    if task == "Remember":
        assert acts[0] in cards(params)
        assert acts[1:n] == ["[wait]"] * (n - 1)
    elif task == "Count":
        assert set(acts[:n]) <= {"0", "1"}
        assert acts[:n].count("1") <= params["max_ones"]
    else:
        assert set(acts[:n]) <= set(cards(params))
    return n


@st.composite
def custom_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A base id with random parameters: ``(env_id, kwargs, full params)``."""
    task = draw(st.sampled_from(["Remember", "Count", "Repeat"]))
    n_min = draw(st.integers(2 if task == "Repeat" else 1, 10))
    n_range = (n_min, n_min + draw(st.integers(0, 10)))
    if task == "Remember":
        kwargs = {"num_cards": draw(st.integers(1, 12)), "n_range": n_range}
    elif task == "Count":
        kwargs = {"n_range": n_range, "max_ones": draw(st.integers(0, n_range[1] + 2))}
    else:
        kwargs = {
            "num_cards": draw(st.integers(1, 6)),
            "lag": draw(st.integers(1, n_min - 1)),
            "n_range": n_range,
        }
    return f"memgym/{task}-v0", kwargs, kwargs


def preset_cases() -> st.SearchStrategy[tuple[str, dict[str, Any], dict[str, Any]]]:
    """A preset id, no kwargs, and its parameters from docs/architecture.md."""
    return st.sampled_from([(env_id, {}, p) for env_id, p in DESIGN_PRESETS.items()])


def env_cases() -> st.SearchStrategy[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Presets and custom parameters."""
    return st.one_of(preset_cases(), custom_cases())
