"""Training recipes: the per-preset settings behind docs/results.md."""

import pytest

from agents.recipes import (
    BASELINE_LR,
    HARDEN_STEPS,
    HARDEN_WARMUP,
    STATE_DIMS,
    STEPS,
    preset_name,
    recipe,
)
from memgym import PRESETS


def test_every_preset_has_a_recipe():
    learned = ("memgym/Remember", "memgym/Count", "memgym/Repeat")
    names = {preset_name(env_id) for env_id in PRESETS if env_id.startswith(learned)}
    assert names == set(STATE_DIMS)
    for name in names:
        config = recipe(name)
        assert config.env_id == f"memgym/{name}-v0" and config.state_dim == STATE_DIMS[name]


def test_boolean_settings_per_preset():
    assert recipe("RepeatEasy").harden_steps == HARDEN_STEPS
    assert recipe("RepeatEasy").harden_start is None  # from the first 100%
    assert recipe("memgym/CountMedium-v0").loss == "first_error_sign"
    assert recipe("CountEasy").harden_start == HARDEN_WARMUP
    medium = recipe("RememberMedium", steps=30000, seed=2, device="cuda")
    assert medium.harden_start == HARDEN_WARMUP and medium.lr == 0.03
    assert (medium.steps, medium.seed, medium.device) == (30000, 2, "cuda")
    assert recipe("RememberHard").steps == STEPS["Hard"]
    assert recipe("RepeatMedium").resample_delays and recipe("RepeatHard").resample_delays
    assert recipe("RepeatEasy").resample_interval == 0 and not recipe("CountEasy").resample_delays
    assert recipe("RememberHard").resample_latches and not recipe("RememberMedium").resample_latches
    assert recipe("CountHard").prior_decoupled and not recipe("CountMedium").prior_decoupled


def test_baselines_get_the_same_size_and_budget_but_their_own_lr():
    boolean, lstm = recipe("RememberMedium"), recipe("RememberMedium", "lstm")
    assert (lstm.state_dim, lstm.steps) == (boolean.state_dim, boolean.steps)
    assert lstm.lr == BASELINE_LR and lstm.harden_steps == 0 and lstm.loss == "first_error"


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="no recipe for 'memgym/CountHuge-v0'"):
        recipe("memgym/CountHuge-v0")
