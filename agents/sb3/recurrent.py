"""The boolean RNN as the recurrent network of sb3-contrib's ``RecurrentPPO``.

``RecurrentPPO(BooleanRecurrentPolicy, env)`` runs RecurrentPPO unchanged with the LSTM replaced
by :class:`BooleanRecurrentModule`. The state is carried as the LSTM's ``(h, c)`` pair of shape
``(1, n_envs, state_dim)`` (``h`` is the boolean state, ``c`` is unused and kept at zero), and
every sequence, episode starts included, goes through one scan with resets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from agents.sb3._scale import FEATURE_SCALE, check_feature_scale, state_encoder, truth_values


class BooleanRecurrentModule(nn.Module):
    """
    A boolean RNN with the attributes ``RecurrentPPO`` reads from an LSTM.

    :param input_size: Number of observation tokens (the one-hot size of the features)
    :param hidden_size: Number of state bits
    :param param_noise: Standard deviation of the parameter noise in training mode
    :param init_std: Standard deviation of the initial parameters
    :param scan: Scan method (see :func:`agents.ops.scan.boolean_scan`)
    :param lr_scale: How many times the optimizer's learning rate the boolean parameters step
    :param feature_scale: The states are divided by it before the sigmoid of the features
    """

    num_layers = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        param_noise: float = 0.0,
        init_std: float = 1.0,
        scan: str = "auto",
        lr_scale: float = 30.0,
        feature_scale: float = FEATURE_SCALE,
    ) -> None:
        super().__init__()
        check_feature_scale(feature_scale)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.feature_scale = feature_scale
        self.rnn = state_encoder(
            input_size,
            hidden_size,
            param_noise=param_noise,
            init_std=init_std,
            scan=scan,
            lr_scale=lr_scale,
        )

    def forward(
        self, tokens: th.Tensor, state: th.Tensor, resets: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        Read token sequences in one scan.

        :param tokens: ``(n_seq, T)`` token indices
        :param state: ``(n_seq, D)`` state before the first token
        :param resets: ``(n_seq, T)`` bool, where the state is reset to the initial state
            before the token is read
        :return: ``(n_seq, T, D)`` states after each token, and ``(n_seq, D)`` the last one
        """
        states = self.rnn.scan_states(tokens, state, resets)
        return states, states[:, -1]


class BooleanRecurrentPolicy(RecurrentActorCriticPolicy):
    """
    Recurrent actor-critic policy whose recurrent network is the boolean RNN.

    Takes every argument of :class:`RecurrentActorCriticPolicy` except the LSTM ones; the actor
    and the critic each get a :class:`BooleanRecurrentModule` (or share one, as with
    ``shared_lstm``). Its output features are the state bits' soft truth values
    ``sigmoid(x / feature_scale)``.
    The observation space must be ``Discrete``: its one-hot features are read as token indices.

    :param observation_space: Observation space (``Discrete``)
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param state_dim: Number of state bits
    :param param_noise: Standard deviation of the parameter noise in training mode
    :param init_std: Standard deviation of the initial parameters
    :param scan: Scan method (see :func:`agents.ops.scan.boolean_scan`)
    :param lr_scale: How many times the learning rate the boolean parameters step (Adam); the
        default 30 is what made PPO learn RememberEasy and RepeatEasy (1 did not)
    :param feature_scale: The states are divided by it before the sigmoid of the features
    :param kwargs: Further arguments of :class:`RecurrentActorCriticPolicy`
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        state_dim: int = 32,
        param_noise: float = 0.0,
        init_std: float = 1.0,
        scan: str = "auto",
        lr_scale: float = 30.0,
        feature_scale: float = FEATURE_SCALE,
        **kwargs: Any,
    ) -> None:
        if not isinstance(observation_space, spaces.Discrete):
            raise ValueError(
                "BooleanRecurrentPolicy reads token indices and needs a Discrete observation "
                f"space, got {observation_space}"
            )
        for name in ("lstm_hidden_size", "n_lstm_layers", "lstm_kwargs"):
            if name in kwargs:
                raise ValueError(f"BooleanRecurrentPolicy takes state_dim instead of {name}")
        self.state_dim = state_dim
        self.param_noise = param_noise
        self.init_std = init_std
        self.scan = scan
        self.lr_scale = lr_scale
        self.feature_scale = feature_scale
        super().__init__(
            observation_space, action_space, lr_schedule, lstm_hidden_size=state_dim, **kwargs
        )
        self.lstm_actor = self._make_recurrent_module()
        if self.lstm_critic is not None:
            self.lstm_critic = self._make_recurrent_module()
        # Rebuild the optimizer over the new modules
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _make_recurrent_module(self) -> BooleanRecurrentModule:
        return BooleanRecurrentModule(
            self.features_dim,
            self.state_dim,
            param_noise=self.param_noise,
            init_std=self.init_std,
            scan=self.scan,
            lr_scale=self.lr_scale,
            feature_scale=self.feature_scale,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            state_dim=self.state_dim,
            param_noise=self.param_noise,
            init_std=self.init_std,
            scan=self.scan,
            lr_scale=self.lr_scale,
            feature_scale=self.feature_scale,
            shared_lstm=self.shared_lstm,
            enable_critic_lstm=self.enable_critic_lstm,
        )
        return data

    @staticmethod
    def _process_sequence(
        features: th.Tensor,
        lstm_states: tuple[th.Tensor, th.Tensor],
        episode_starts: th.Tensor,
        lstm: BooleanRecurrentModule,
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        Run the boolean RNN over whole sequences in one scan, resetting at episode starts.

        :param features: ``(n_seq * T, n_tokens)`` one-hot observations, sequence-major
        :param lstm_states: ``(h, c)``, each ``(1, n_seq, D)``: the state before each sequence
        :param episode_starts: ``(n_seq * T,)`` where the state is reset before the step
        :param lstm: The recurrent module
        :return: ``(n_seq * T, D)`` features of the states, and the new ``(h, c)``
        """
        n_seq = lstm_states[0].shape[1]
        tokens = features.argmax(dim=-1).reshape(n_seq, -1)
        resets = episode_starts.reshape(n_seq, -1) > 0.5
        states, last = lstm(tokens, lstm_states[0][0], resets)
        last = last.unsqueeze(0)
        features = truth_values(states, lstm.feature_scale)
        return features.flatten(0, 1), (last, th.zeros_like(last))

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Get the action from an observation and the recurrent state.

        Without a ``state``, every environment starts a new episode: the state is the learned
        initial state (RecurrentPPO's zeros are not a valid boolean state).

        :param observation: The input observation
        :param state: The last ``(h, c)`` state
        :param episode_start: Whether each observation starts a new episode
        :param deterministic: Whether to return deterministic actions
        :return: The action and the next ``(h, c)`` state
        """
        if state is None:
            episode_start = np.ones(np.asarray(observation).reshape(-1).shape[0], dtype=bool)
        return super().predict(observation, state, episode_start, deterministic)
