"""Supervised rollouts: episodes as token arrays for sequence prediction, without rewards.

``SupervisedRollout`` plays single episodes of any env with a ``Discrete`` action space, a
``Discrete`` or ``MultiDiscrete`` observation space, that reports ``info["target"]`` on the
steps it scores. ``batch_rollouts`` and ``all_episodes`` build padded ``(B, T)`` batches;
for memgym's tasks they are vectorised with NumPy (no loop over time steps).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memgym.presets import memgym_task
from memgym.tasks import Task

NO_OBS = -1
"""Placeholder in ``SupervisedRollout`` episodes: ``obs[0]`` (no obs precedes the first act) and
every step whose ``info`` has no ``"target"`` (a step the env does not score)."""


def act_token(observation: Any, space: spaces.Space) -> int:
    """The act token of an observation: itself for ``Discrete``, for ``MultiDiscrete([n_1, …,
    n_k])`` the mixed-radix index ``((x_1·n_2 + x_2)·n_3 + x_3)…`` (first component most
    significant), a token id in ``0 … n_1·…·n_k − 1``."""
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.ravel_multi_index(tuple(np.asarray(observation).ravel()), space.nvec.ravel()))
    return int(observation) - int(space.start)


def num_act_tokens(space: spaces.Space) -> int:
    """How many act tokens ``act_token`` gives for ``space``."""
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.prod(space.nvec))
    return int(space.n)


@dataclass(frozen=True, eq=False)
class Rollouts:
    """A padded batch of episodes, row ``b`` valid for ``t < lengths[b]``.

    Attributes:
        act: int64 ``(B, T)``, the act token read at step ``t`` (the env's observation).
        target: int64 ``(B, T)``, the obs token that follows ``act[:, :t+1]``: what a model
            must predict at position ``t`` (``info["target"]`` at env step ``t``).
        mask: bool ``(B, T)``, true on valid scored steps: every step of a memgym task (the last
            is the answer); for other envs the steps that have a target.
        lengths: int64 ``(B,)``, valid steps per row (``n + 1`` for memgym's tasks).
        act_tokens, obs_tokens: token names of the values in ``act`` and ``target``.

    Beyond each row's end, memgym's tasks pad ``act`` and ``target`` with their ``[end]``
    tokens (the task's true continuation); other envs pad with 0, and hold 0 in ``target``
    where a step has no target.
    """

    act: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    act_tokens: tuple[str, ...]
    obs_tokens: tuple[str, ...]

    def __len__(self) -> int:
        """Number of episodes (rows)."""
        return len(self.lengths)

    @property
    def answer_mask(self) -> np.ndarray:
        """Bool ``(B, T)``: true only at each row's answer step (its last valid step)."""
        return np.arange(self.act.shape[1]) == self.lengths[:, None] - 1

    @property
    def answers(self) -> np.ndarray:
        """int64 ``(B,)``: each row's answer token, ``target`` at its last valid step."""
        return self.target[np.arange(len(self)), self.lengths - 1]


class SupervisedRollout(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Plays whole episodes and returns them as aligned ``act``/``obs`` token arrays.

    The wrapper acts by naming ``info["target"]`` at every step (teacher forcing) and drops
    the reward. An episode of ``L`` steps gives two int64 arrays of length ``L + 1``:
    ``act[t]`` is the env's observation after ``t`` steps (``act[L]`` is the one returned with
    termination, ``[end]`` for memgym), and ``obs[t + 1]`` is ``info["target"]`` at step
    ``t``, the response to ``act[:t + 1]``; ``obs[0]`` is ``NO_OBS`` (−1). On a step without
    ``info["target"]`` (one the env does not score) the wrapper plays action 0 and records
    ``NO_OBS``. ``MultiDiscrete`` observations become act tokens by ``act_token``'s
    mixed-radix index. ``step`` and ``reset`` pass through unchanged. It records its
    constructor arguments, so ``gym.make(wrapper.spec)`` rebuilds it.

    Example::

        wrapper = SupervisedRollout(gym.make("memgym/RepeatEasy-v0"))
        act, obs = wrapper.episode(seed=0)
    """

    def __init__(self, env: gym.Env) -> None:
        if not isinstance(env.action_space, spaces.Discrete):
            raise ValueError(
                f"SupervisedRollout needs a Discrete action_space, got {env.action_space}"
            )
        if not isinstance(env.observation_space, (spaces.Discrete, spaces.MultiDiscrete)):
            raise ValueError(
                "SupervisedRollout needs a Discrete or MultiDiscrete observation_space, "
                f"got {env.observation_space}"
            )
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)

    def episode(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Play one episode from ``reset(seed=seed)``; return ``(act, obs)``."""
        space = self.env.observation_space
        observation, info = self.env.reset(seed=seed)
        acts, obs = [act_token(observation, space)], [NO_OBS, self._target(info)]
        while True:
            observation, _, terminated, truncated, info = self.env.step(max(obs[-1], 0))
            acts.append(act_token(observation, space))
            if terminated or truncated:
                if max(obs) == NO_OBS:
                    raise KeyError(
                        'SupervisedRollout needs the env to report info["target"] on the steps '
                        "it scores; this episode had none"
                    )
                return np.array(acts, dtype=np.int64), np.array(obs, dtype=np.int64)
            obs.append(self._target(info))

    def episodes(
        self, count: int, seed: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``count`` episodes; the first resets with ``seed``, the rest continue its RNG."""
        for i in range(count):
            yield self.episode(seed=seed if i == 0 else None)

    @staticmethod
    def _target(info: dict[str, Any]) -> int:
        return int(info["target"]) if "target" in info else NO_OBS


def _task_rollouts(task: Task, act: np.ndarray, n: np.ndarray) -> Rollouts:
    after = np.arange(act.shape[1]) > n[:, None]
    target = after.astype(np.int64)  # OBS_WAIT (0) before the answer, OBS_END (1) after
    target[np.arange(len(n)), n] = task.answers(act, n)
    return Rollouts(
        act=act.astype(np.int64),
        target=target,
        mask=~after,
        lengths=n + 1,
        act_tokens=task.act_tokens,
        obs_tokens=task.obs_tokens,
    )


def _stepped_rollouts(
    env_id: str, batch_size: int, seed: int | None, env_kwargs: dict[str, Any]
) -> Rollouts:
    env = gym.make(env_id, **env_kwargs)
    try:
        wrapper = SupervisedRollout(env)
        episodes = list(wrapper.episodes(batch_size, seed=seed))
    finally:
        env.close()
    lengths = np.array([len(act) - 1 for act, _ in episodes], dtype=np.int64)
    act = np.zeros((batch_size, lengths.max()), dtype=np.int64)
    target = np.full_like(act, NO_OBS)
    for row, (acts, obs) in enumerate(episodes):
        act[row, : len(acts) - 1] = acts[:-1]
        target[row, : len(obs) - 1] = obs[1:]
    unwrapped = env.unwrapped
    scored = target != NO_OBS
    return Rollouts(
        act=act,
        target=np.where(scored, target, 0),
        mask=scored,
        lengths=lengths,
        act_tokens=_names(unwrapped, "act_tokens", num_act_tokens(env.observation_space)),
        obs_tokens=_names(unwrapped, "obs_tokens", int(env.action_space.n)),
    )


def _names(env: gym.Env, attribute: str, count: int) -> tuple[str, ...]:
    return tuple(getattr(env, attribute, None) or (str(i) for i in range(count)))


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, (bool, np.bool_)) or not (
        isinstance(batch_size, (int, np.integer)) and batch_size >= 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def batch_rollouts(
    env_id: str, batch_size: int, seed: int | None = None, **env_kwargs: Any
) -> Rollouts:
    """``batch_size`` fresh episodes of ``env_id`` as a padded batch (``T`` = longest episode).

    ``env_kwargs`` are passed as to ``gym.make`` (e.g. ``scaled_length_kwargs(...)``). Same
    seed ⇒ same arrays. memgym ids are generated with vectorised NumPy; any other registered
    env that ``SupervisedRollout`` can play is stepped through it (teacher-forced, padded with
    0; steps without a target are masked out).
    """
    _check_batch_size(batch_size)
    task = memgym_task(env_id, **env_kwargs)
    if task is None:
        return _stepped_rollouts(env_id, batch_size, seed, env_kwargs)
    act, n = task.sample(np.random.default_rng(seed), batch_size)
    return _task_rollouts(task, act, n)


def all_episodes(env_id: str, n: int, limit: int = 1_000_000, **env_kwargs: Any) -> Rollouts:
    """Every valid episode of a memgym task with length parameter ``n`` (``T = n + 1``).

    Remember has ``num_cards`` of them, Count one per bit string with at most ``max_ones``
    ones, Repeat ``num_cards ** n``. ``n`` need not lie in the env's ``n_range``. Raises
    ``ValueError`` when there are more than ``limit`` episodes.
    """
    task = memgym_task(env_id, **env_kwargs)
    if task is None:
        raise ValueError(f"all_episodes needs a memgym env id, got {env_id!r}")
    n = task.check_length(n)
    count = task.num_episodes(n)
    if count > limit:
        raise ValueError(
            f"{env_id} has {count} episodes of length n={n}, more than limit={limit}; "
            "pass a larger limit or a smaller n"
        )
    act, lengths = task.enumerate(n)
    return _task_rollouts(task, act, lengths)
