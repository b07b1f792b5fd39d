"""A features extractor that runs the boolean scan over the token history, for any SB3 algorithm.

SB3 features extractors are stateless, so :class:`TokenHistoryWrapper` turns a ``Discrete``
observation into the history of tokens seen so far in the episode, and
:class:`BooleanRNNExtractor` scans that history and returns the truth values of the final state::

    env = TokenHistoryWrapper(gym.make("memgym/RememberEasy-v0"), max_length=17)
    policy_kwargs = dict(features_extractor_class=BooleanRNNExtractor)
    model = PPO("MultiInputPolicy", env, policy_kwargs=policy_kwargs)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.sb3._scale import FEATURE_SCALE, check_feature_scale, state_encoder, truth_values


class TokenHistoryWrapper(gym.ObservationWrapper):
    """
    Replace a ``Discrete`` observation by the episode's token history.

    The observation becomes a ``Dict`` with ``"tokens"``, the tokens seen since the last reset
    (left-aligned, padded with zeros to ``max_length``), and ``"length"``, how many are valid.
    When an episode runs longer than ``max_length`` steps, the most recent ``max_length`` tokens
    are kept.

    :param env: Environment with a ``Discrete`` observation space
    :param max_length: Number of tokens the history holds
    """

    def __init__(self, env: gym.Env, max_length: int) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Discrete):
            raise ValueError(
                "TokenHistoryWrapper needs a Discrete observation space, got "
                f"{env.observation_space}"
            )
        if max_length < 1:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self.max_length = max_length
        self._start = int(env.observation_space.start)
        num_tokens = int(env.observation_space.n)
        self.observation_space = spaces.Dict(
            {
                "tokens": spaces.Box(0, num_tokens - 1, (max_length,), np.int64),
                "length": spaces.Box(1, max_length, (1,), np.int64),
            }
        )
        self._tokens = np.zeros(max_length, dtype=np.int64)
        self._length = 0

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an empty history, then reset the environment."""
        self._length = 0
        return super().reset(**kwargs)

    def observation(self, observation: int) -> dict[str, np.ndarray]:
        """Append the new token and return the history."""
        if self._length == self.max_length:
            self._tokens[:-1] = self._tokens[1:]
        else:
            self._length += 1
        self._tokens[self._length - 1] = int(observation) - self._start
        return {"tokens": self._tokens.copy(), "length": np.array([self._length], dtype=np.int64)}


class BooleanRNNExtractor(BaseFeaturesExtractor):
    """
    Features of the boolean RNN's state after reading a token history.

    Runs one scan over the padded history and returns ``sigmoid(x / feature_scale)`` of the
    state at the last valid position: each feature is the soft truth value of one state bit.

    :param observation_space: The ``Dict`` space of :class:`TokenHistoryWrapper`
    :param state_dim: Number of state bits (the features' size)
    :param param_noise: Standard deviation of the parameter noise in training mode
    :param init_std: Standard deviation of the initial parameters
    :param scan: Scan method (see :func:`agents.ops.scan.boolean_scan`)
    :param lr_scale: How many times the learning rate the boolean parameters step (Adam); the
        default 30 is what made PPO learn RememberEasy and RepeatEasy (1 did not)
    :param feature_scale: The states are divided by it before the sigmoid
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        state_dim: int = 32,
        param_noise: float = 0.0,
        init_std: float = 1.0,
        scan: str = "auto",
        lr_scale: float = 30.0,
        feature_scale: float = FEATURE_SCALE,
    ) -> None:
        if not isinstance(observation_space, spaces.Dict) or set(observation_space.spaces) != {
            "tokens",
            "length",
        }:
            raise ValueError(
                "BooleanRNNExtractor needs the Dict observation space of TokenHistoryWrapper, "
                f"got {observation_space}"
            )
        check_feature_scale(feature_scale)
        super().__init__(observation_space, features_dim=state_dim)
        self.feature_scale = feature_scale
        num_tokens = int(observation_space["tokens"].high.max()) + 1
        self.rnn = state_encoder(
            num_tokens,
            state_dim,
            param_noise=param_noise,
            init_std=init_std,
            scan=scan,
            lr_scale=lr_scale,
        )

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """Scan each history and return the truth values of its last valid state."""
        tokens = observations["tokens"].long()
        last = observations["length"].long().view(-1) - 1
        states = self.rnn.scan_states(tokens)
        last_states = states[th.arange(tokens.shape[0], device=tokens.device), last]
        return truth_values(last_states, self.feature_scale)
