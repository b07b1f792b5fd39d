"""The registered env ids, the difficulty presets, and length-scaled variants of them."""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from memgym.envs import MemoryEnv
from memgym.tasks import Task

ENTRY_POINTS: dict[str, str] = {
    "Remember": "memgym.envs:RememberEnv",
    "Count": "memgym.envs:CountEnv",
    "Repeat": "memgym.envs:RepeatEnv",
    "ModCount": "memgym.envs:ModCountEnv",
    "Tomita": "memgym.envs:TomitaEnv",
    "Automaton": "memgym.envs:AutomatonEnv",
}
"""Task name → env class; ``memgym/<Task>-v0`` takes the parameters as ``gym.make`` kwargs."""

PRESETS: dict[str, dict[str, Any]] = {
    "memgym/RememberEasy-v0": {"num_cards": 4, "n_range": (4, 16)},
    "memgym/RememberMedium-v0": {"num_cards": 16, "n_range": (16, 64)},
    "memgym/RememberHard-v0": {"num_cards": 64, "n_range": (64, 256)},
    "memgym/CountEasy-v0": {"n_range": (4, 8)},
    "memgym/CountMedium-v0": {"n_range": (8, 24)},
    "memgym/CountHard-v0": {"n_range": (16, 64)},
    "memgym/RepeatEasy-v0": {"num_cards": 4, "lag": 2, "n_range": (4, 16)},
    "memgym/RepeatMedium-v0": {"num_cards": 4, "lag": 4, "n_range": (8, 32)},
    "memgym/RepeatHard-v0": {"num_cards": 8, "lag": 8, "n_range": (16, 64)},
    "memgym/ModCountEasy-v0": {"modulus": 2, "n_range": (4, 16)},
    "memgym/ModCountMedium-v0": {"modulus": 5, "n_range": (16, 64)},
    "memgym/ModCountHard-v0": {"modulus": 7, "n_range": (64, 256)},
    **{f"memgym/Tomita{g}-v0": {"grammar": g, "n_range": (4, 32)} for g in range(1, 8)},
    "memgym/AutomatonEasy-v0": {
        "num_states": 8,
        "num_symbols": 2,
        "num_outputs": 2,
        "machine_seed": 0,
        "n_range": (4, 16),
    },
    "memgym/AutomatonMedium-v0": {
        "num_states": 32,
        "num_symbols": 4,
        "num_outputs": 4,
        "machine_seed": 0,
        "n_range": (16, 64),
    },
    "memgym/AutomatonHard-v0": {
        "num_states": 128,
        "num_symbols": 8,
        "num_outputs": 8,
        "machine_seed": 0,
        "n_range": (64, 256),
    },
}
"""The preset ids and their env kwargs (docs/architecture.md, "Tasks and presets")."""

BASE_IDS: tuple[str, ...] = tuple(f"memgym/{task}-v0" for task in ENTRY_POINTS)
"""The parametric ids, one per task."""

ENV_IDS: tuple[str, ...] = BASE_IDS + tuple(PRESETS)
"""All registered memgym ids."""


POPGYM_IDS: tuple[str, ...] = tuple(
    f"memgym/POPGym-{task}{level}-v0"
    for task in ("RepeatPrevious", "RepeatFirst", "CountRecall")
    for level in ("Easy", "Medium", "Hard")
)
"""POPGym's memory tasks with ``info["target"]`` (``memgym.popgym_adapters``; needs popgym)."""


def entry_point(env_id: str) -> str:
    """The entry point of a memgym id (``memgym/RepeatHard-v0`` → ``memgym.envs:RepeatEnv``)."""
    name = env_id.removeprefix("memgym/").removesuffix("-v0")
    task = next((task for task in ENTRY_POINTS if name.startswith(task)), None)
    if task is None:
        raise ValueError(f"{env_id!r} is not a memgym id; expected one of {ENV_IDS}")
    return ENTRY_POINTS[task]


def register_envs() -> None:
    """Register every memgym id with Gymnasium (done by ``import memgym``)."""
    for env_id in ENV_IDS:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point(env_id), kwargs=PRESETS.get(env_id, {}))
    for env_id in POPGYM_IDS:
        name = env_id.removeprefix("memgym/POPGym-").removesuffix("-v0")
        level = next(level for level in ("Easy", "Medium", "Hard") if name.endswith(level))
        kwargs = {"task": name.removesuffix(level), "level": level}
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="memgym.popgym_adapters:make_popgym", kwargs=kwargs)


def memgym_task(env_id: str, **env_kwargs: Any) -> Task | None:
    """The task behind a registered id and kwargs, or None when the id is not a memgym env.

    Builds the env class directly (no wrappers), so bad kwargs raise as in ``gym.make``.
    """
    spec = gym.spec(env_id)
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = load_env_creator(creator)
    if not (isinstance(creator, type) and issubclass(creator, MemoryEnv)):
        return None
    return creator(**{**spec.kwargs, **env_kwargs}).task


def scaled_length_kwargs(env_id: str, factor: float, **env_kwargs: Any) -> dict[str, Any]:
    """Env kwargs for episodes ``factor`` times as long as those of ``env_id`` + ``env_kwargs``.

    ``n_range`` becomes ``(round(factor·n_min), round(factor·n_max))``; every other
    parameter is kept, and Count keeps its answer range (``max_ones`` stays the original
    cap, by default the original ``n_max``). Pass the result to ``gym.make`` or
    ``batch_rollouts`` with any memgym id of the same task.
    """
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor > 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    task = memgym_task(env_id, **env_kwargs)
    if task is None:
        raise ValueError(f"{env_id!r} is not a memgym env")
    kwargs = task.params
    n_min, n_max = kwargs["n_range"]
    kwargs["n_range"] = (round(factor * n_min), round(factor * n_max))
    type(task)(**kwargs)  # raises if the scaled parameters are impossible
    return kwargs
