"""Recipes: a step cap per preset, and nothing else."""

import dataclasses

import pytest

from agents.recipes import STEPS, preset_name, recipe
from agents.train import TrainConfig
from memgym import PRESETS

RUN_FIELDS = {"env_id", "model", "steps", "seed", "device", "eval_interval"}
"""What a recipe sets: the preset, the model, the step cap, and the run's seed, device and
curve resolution (none of them a learning setting)."""


def test_every_preset_has_a_recipe():
    for env_id in PRESETS:
        assert recipe(preset_name(env_id)).env_id == env_id


@pytest.mark.parametrize("env_id", list(PRESETS))
@pytest.mark.parametrize("model", ["boolean", "lstm"])
def test_a_recipe_holds_no_setting_but_the_step_cap(env_id, model):
    config = recipe(env_id, model, seed=2)
    defaults = TrainConfig(env_id=env_id, model=model, seed=2)
    changed = {
        f.name
        for f in dataclasses.fields(TrainConfig)
        if getattr(config, f.name) != getattr(defaults, f.name)
    }
    assert changed <= RUN_FIELDS - {"env_id", "model", "seed"}
    level = next((level for level in STEPS if env_id.endswith(f"{level}-v0")), "Medium")
    assert config.steps == STEPS[level]  # Tomita1-7 name no difficulty: the Medium cap


def test_steps_seed_and_device_pass_through():
    medium = recipe("RememberMedium", steps=30000, seed=2, device="cuda")
    assert (medium.steps, medium.seed, medium.device) == (30000, 2, "cuda")
    assert medium.eval_interval == 120


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="no recipe for 'memgym/CountHuge-v0'"):
        recipe("memgym/CountHuge-v0")
