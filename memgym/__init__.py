"""memgym: deterministic memory tasks as Gymnasium environments, with their exact machines.

``import memgym`` registers ``memgym/{Remember,Count,Repeat,ModCount,Tomita,Automaton}-v0``
(parameters as ``gym.make`` kwargs), their presets (``memgym.PRESETS``) and the POPGym adapters
``memgym/POPGym-*-v0`` (``memgym.presets.POPGYM_IDS``, extra ``[popgym]``).
``memgym.reference(env_id)`` gives a task's exact reference Moore machine.
"""

from memgym.core import OBS_END, OBS_WAIT, CountCore, RememberCore, RepeatCore
from memgym.envs import (
    EPISODES_PER_DRAW,
    AutomatonEnv,
    CountEnv,
    MemoryEnv,
    ModCountEnv,
    RememberEnv,
    RepeatEnv,
    TomitaEnv,
)
from memgym.presets import BASE_IDS, ENV_IDS, PRESETS, memgym_task, scaled_length_kwargs
from memgym.presets import register_envs as _register_envs
from memgym.reference import ReferenceMachine, reference
from memgym.rollouts import NO_OBS, Rollouts, SupervisedRollout, all_episodes, batch_rollouts
from memgym.tasks import (
    AutomatonTask,
    CountTask,
    ModCountTask,
    RememberTask,
    RepeatTask,
    Task,
    TomitaTask,
)

_register_envs()

__all__ = [
    "BASE_IDS",
    "ENV_IDS",
    "EPISODES_PER_DRAW",
    "NO_OBS",
    "OBS_END",
    "OBS_WAIT",
    "PRESETS",
    "AutomatonEnv",
    "AutomatonTask",
    "CountCore",
    "CountEnv",
    "CountTask",
    "MemoryEnv",
    "ModCountEnv",
    "ModCountTask",
    "ReferenceMachine",
    "RememberCore",
    "RememberEnv",
    "RememberTask",
    "RepeatCore",
    "RepeatEnv",
    "RepeatTask",
    "Rollouts",
    "SupervisedRollout",
    "Task",
    "TomitaEnv",
    "TomitaTask",
    "all_episodes",
    "batch_rollouts",
    "memgym_task",
    "reference",
    "scaled_length_kwargs",
]
