"""The step cap per preset behind docs/results.md, and nothing else.

Every run of the results table is ``TrainConfig``'s defaults (the one learner, ``agents.train``)
for the preset, with the difficulty's step cap: ``recipe("CountEasy")`` for the boolean RNN,
``recipe("CountEasy", model="lstm")`` for the LSTM baseline (same state size and cap). The
state size comes from the task (:func:`agents.train.state_dim_for`). What the earlier
per-preset recipes taught is in docs/results-notes.md.
"""

from __future__ import annotations

from agents.train import TrainConfig
from memgym import PRESETS

STEPS = {"Easy": 25000, "Medium": 40000, "Hard": 40000}
"""Step cap per difficulty (every model gets the same; the boolean RNN stops once its automaton
verifies). A preset without a difficulty in its name (Tomita1-7) gets the Medium cap."""

EVALS_PER_RUN = 250
"""Held-out evals over a run's cap (the learning curves' resolution)."""

PRESET_NAMES = tuple(env_id.removeprefix("memgym/").removesuffix("-v0") for env_id in PRESETS)


def preset_name(preset: str) -> str:
    """``"CountEasy"`` from ``"CountEasy"`` or ``"memgym/CountEasy-v0"``; ``ValueError`` naming
    the presets for anything else."""
    name = preset.removeprefix("memgym/").removesuffix("-v0")
    if name not in PRESET_NAMES:
        raise ValueError(f"no recipe for {preset!r}; presets: {', '.join(PRESET_NAMES)}")
    return name


def recipe(
    preset: str,
    model: str = "boolean",
    steps: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> TrainConfig:
    """The training run of ``preset``'s row for ``model``: the defaults with the difficulty's
    step cap (or ``steps``)."""
    name = preset_name(preset)
    level = next((level for level in STEPS if name.endswith(level)), "Medium")
    steps = steps or STEPS[level]
    return TrainConfig(
        env_id=f"memgym/{name}-v0",
        model=model,
        steps=steps,
        seed=seed,
        device=device,
        eval_interval=max(1, steps // EVALS_PER_RUN),
    )
