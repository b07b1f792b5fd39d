"""memgym: deterministic memory tasks (Remember, Count, Repeat) as Gymnasium environments.

``memgym.reference(env_id)`` gives a task's exact reference Moore machine.
``import memgym`` registers ``memgym/{Remember,Count,Repeat}-v0`` (parameters as ``gym.make``
kwargs) and the presets ``memgym/{Remember,Count,Repeat}{Easy,Medium,Hard}-v0``.
"""

from memgym.core import OBS_END, OBS_WAIT, CountCore, RememberCore, RepeatCore
from memgym.envs import EPISODES_PER_DRAW, CountEnv, MemoryEnv, RememberEnv, RepeatEnv
from memgym.presets import BASE_IDS, ENV_IDS, PRESETS, memgym_task, scaled_length_kwargs
from memgym.presets import register_envs as _register_envs
from memgym.reference import ReferenceMachine, reference
from memgym.rollouts import NO_OBS, Rollouts, SupervisedRollout, all_episodes, batch_rollouts
from memgym.tasks import CountTask, RememberTask, RepeatTask, Task

_register_envs()

__all__ = [
    "BASE_IDS",
    "ENV_IDS",
    "EPISODES_PER_DRAW",
    "NO_OBS",
    "OBS_END",
    "OBS_WAIT",
    "PRESETS",
    "CountCore",
    "CountEnv",
    "CountTask",
    "MemoryEnv",
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
    "all_episodes",
    "batch_rollouts",
    "memgym_task",
    "reference",
    "scaled_length_kwargs",
]
