"""The boolean RNN as the recurrent network of sb3-contrib's ``RecurrentPPO``.

``RecurrentPPO(BooleanRecurrentPolicy, env)`` runs RecurrentPPO unchanged with the LSTM replaced
by :class:`BooleanRecurrentModule`, for any observation space (see :mod:`agents.sb3.tokens`).
The state is carried as the LSTM's ``(h, c)`` pair of shape ``(1, n_envs, state_dim)`` (``h``
is the boolean state, ``c`` is unused and kept at zero), and every sequence, episode starts
included, goes through one scan with resets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from agents.sb3._scale import FEATURE_SCALE, check_feature_scale, state_encoder, truth_values
from agents.sb3.extractor import usual_extractor_class
from agents.sb3.tokens import (
    TokenChoice,
    is_token_space,
    mixed_radix,
    mixture_scan,
    read_token_ids,
    token_radices,
)
from agents.sb3.tokens import num_tokens as count_tokens


def tokens_from_zero(obs: PyTorchObs, space: spaces.Space) -> PyTorchObs:
    """Token observations shifted to start at 0 (SB3's one-hot encoding ignores ``start``),
    checked to be integral ids in range; other observations unchanged. All-zero rows are
    RecurrentPPO's padding of short sequences and become token 0.

    :raises ValueError: on non-integral or out-of-range token ids
    """
    if isinstance(space, spaces.Dict):
        return {key: tokens_from_zero(value, space[key]) for key, value in obs.items()}
    if not is_token_space(space):
        return obs
    flat = obs.reshape(obs.shape[0], -1)
    start = th.as_tensor(np.asarray(space.start).reshape(-1), device=obs.device)
    padding = (flat == 0).all(dim=1, keepdim=True)
    shifted = th.where(padding, th.zeros_like(flat), flat - start)
    return read_token_ids(shifted, token_radices(space), "observations").view(obs.shape)


class ReplacedRecurrentPolicy(RecurrentActorCriticPolicy):
    """
    ``RecurrentActorCriticPolicy`` whose LSTMs are replaced by the modules that
    :meth:`_make_recurrent_module` builds, for any observation space.

    Without a ``features_extractor_class``, it takes SB3's usual one for the observation space
    (``CombinedExtractor`` for a ``Dict``, ``NatureCNN`` for images, ``FlattenExtractor``
    otherwise). Token observations with a ``start`` are shifted to 0 before SB3's one-hot
    encoding, which ignores ``start``.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param kwargs: Further arguments of :class:`RecurrentActorCriticPolicy`
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("features_extractor_class") is None:
            kwargs["features_extractor_class"] = usual_extractor_class(observation_space)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        self.lstm_actor = self._make_recurrent_module()
        if self.lstm_critic is not None:
            self.lstm_critic = self._make_recurrent_module()
        # Rebuild the optimizer over the new modules
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _make_recurrent_module(self) -> nn.Module:
        raise NotImplementedError

    def make_features_extractor(self) -> BaseFeaturesExtractor:
        """SB3's features extractor, its ``features_dim`` a Python int (``FlattenExtractor``
        gives a NumPy int for ``MultiDiscrete``, which ``torch.nn`` layers refuse)."""
        extractor = super().make_features_extractor()
        extractor._features_dim = int(extractor.features_dim)
        return extractor

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(shared_lstm=self.shared_lstm, enable_critic_lstm=self.enable_critic_lstm)
        return data

    def extract_features(self, obs: PyTorchObs, features_extractor: Any = None) -> Any:
        """SB3's ``extract_features`` of the observations with tokens shifted to start at 0."""
        return super().extract_features(
            tokens_from_zero(obs, self.observation_space), features_extractor
        )

    def get_distribution(self, obs: PyTorchObs, *args: Any, **kwargs: Any) -> Any:
        """SB3's ``get_distribution`` of the observations with tokens shifted to start at 0."""
        return super().get_distribution(
            tokens_from_zero(obs, self.observation_space), *args, **kwargs
        )

    def predict_values(self, obs: PyTorchObs, *args: Any, **kwargs: Any) -> th.Tensor:
        """SB3's ``predict_values`` of the observations with tokens shifted to start at 0."""
        return super().predict_values(
            tokens_from_zero(obs, self.observation_space), *args, **kwargs
        )


class BooleanRecurrentModule(nn.Module):
    """
    A boolean RNN with the attributes ``RecurrentPPO`` reads from an LSTM.

    It reads token ids exactly from one-hot features when ``radices`` is given, and otherwise
    learns a choice among ``num_tokens`` tokens from the features
    (:class:`~agents.sb3.tokens.TokenChoice`).

    :param input_size: Size of the features
    :param hidden_size: Number of state bits
    :param radices: ``(k,)`` radices of the token space whose one-hot encodings the features
        are, or ``None`` for a learned choice
    :param num_tokens: ``K``, the tokens of the learned choice
    :param token_choice: ``"straight_through"`` or ``"soft"``
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
        radices: np.ndarray | None = None,
        num_tokens: int = 16,
        token_choice: str = "straight_through",
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
        self.radices = radices
        if radices is not None:
            self.choice = None
            vocabulary = int(np.prod(radices))
        else:
            self.choice = TokenChoice(input_size, num_tokens, token_choice)
            vocabulary = num_tokens
        self.rnn = state_encoder(
            vocabulary,
            hidden_size,
            param_noise=param_noise,
            init_std=init_std,
            scan=scan,
            lr_scale=lr_scale,
        )

    def forward(
        self, features: th.Tensor, state: th.Tensor, resets: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        Read feature sequences in one scan.

        :param features: ``(n_seq, T, input_size)`` features of each step
        :param state: ``(n_seq, D)`` state before the first step
        :param resets: ``(n_seq, T)`` bool, where the state is reset to the initial state
            before the step is read
        :return: ``(n_seq, T, D)`` states after each step, and ``(n_seq, D)`` the last one
        """
        n_seq, T, _ = features.shape
        if self.radices is not None:
            ids = read_token_ids(features.flatten(0, 1), self.radices, "features")
            states = self.rnn.scan_states(
                mixed_radix(ids, self.radices).view(n_seq, T), state, resets
            )
        else:
            weights = self.choice(features)
            A, _, x0 = self.rnn.effective_parameters(noisy=self.training)
            states = mixture_scan(A, weights, state, resets, x0, self.rnn.scan)
        return states, states[:, -1]


class BooleanRecurrentPolicy(ReplacedRecurrentPolicy):
    """
    Recurrent actor-critic policy whose recurrent network is the boolean RNN.

    Takes every argument of :class:`RecurrentActorCriticPolicy` except the LSTM ones (including
    ``features_extractor_class`` / ``features_extractor_kwargs``); the actor and the critic each
    get a :class:`BooleanRecurrentModule` (or share one, as with ``shared_lstm``). ``Discrete``
    (any ``start``) and ``MultiDiscrete`` observations read with the default extractor are
    tokens exactly (a ``MultiDiscrete`` one as one mixed-radix token); any other observation,
    or any other extractor's features, drive a learned choice among ``num_tokens`` tokens. Its
    output features are the state bits' soft truth values ``sigmoid(x / feature_scale)``.

    :param observation_space: Observation space (any)
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param state_dim: Number of state bits
    :param num_tokens: ``K``, the tokens a non-token observation is mapped to
    :param token_choice: ``"straight_through"`` or ``"soft"`` (see
        :class:`~agents.sb3.tokens.TokenChoice`)
    :param param_noise: Standard deviation of the parameter noise in training mode
    :param init_std: Standard deviation of the initial parameters
    :param scan: Scan method (see :func:`agents.ops.scan.boolean_scan`)
    :param lr_scale: How many times the learning rate the boolean parameters step (Adam); the
        default 30 is what made PPO learn RememberEasy and RepeatEasy (1 did not)
    :param feature_scale: The states are divided by it before the sigmoid of the features
    :param kwargs: Further arguments of :class:`RecurrentActorCriticPolicy`
    :raises ValueError: on LSTM arguments, or a token space with too many tokens
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        state_dim: int = 32,
        num_tokens: int = 16,
        token_choice: str = "straight_through",
        param_noise: float = 0.0,
        init_std: float = 1.0,
        scan: str = "auto",
        lr_scale: float = 30.0,
        feature_scale: float = FEATURE_SCALE,
        **kwargs: Any,
    ) -> None:
        for name in ("lstm_hidden_size", "n_lstm_layers", "lstm_kwargs"):
            if name in kwargs:
                raise ValueError(f"BooleanRecurrentPolicy takes state_dim instead of {name}")
        check_feature_scale(feature_scale)
        exact = is_token_space(observation_space) and kwargs.get("features_extractor_class") in (
            None,
            FlattenExtractor,
        )
        if exact:
            count_tokens(observation_space)  # refuses a token space too large to read exactly
        self.radices = token_radices(observation_space) if exact else None
        self.module_kwargs = dict(
            num_tokens=num_tokens,
            token_choice=token_choice,
            param_noise=param_noise,
            init_std=init_std,
            scan=scan,
            lr_scale=lr_scale,
            feature_scale=feature_scale,
        )
        self.state_dim = state_dim
        self.feature_scale = feature_scale
        super().__init__(
            observation_space, action_space, lr_schedule, lstm_hidden_size=state_dim, **kwargs
        )

    def _make_recurrent_module(self) -> BooleanRecurrentModule:
        return BooleanRecurrentModule(
            self.features_dim, self.state_dim, radices=self.radices, **self.module_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(state_dim=self.state_dim, **self.module_kwargs)
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

        :param features: ``(n_seq * T, F)`` features, sequence-major
        :param lstm_states: ``(h, c)``, each ``(1, n_seq, D)``: the state before each sequence
        :param episode_starts: ``(n_seq * T,)`` where the state is reset before the step
        :param lstm: The recurrent module
        :return: ``(n_seq * T, D)`` features of the states, and the new ``(h, c)``
        """
        n_seq = lstm_states[0].shape[1]
        resets = episode_starts.reshape(n_seq, -1) > 0.5
        states, last = lstm(features.reshape(n_seq, resets.shape[1], -1), lstm_states[0][0], resets)
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
            obs, _ = self.obs_to_tensor(observation)
            first = next(iter(obs.values())) if isinstance(obs, dict) else obs
            episode_start = np.ones(first.shape[0], dtype=bool)
        return super().predict(observation, state, episode_start, deterministic)
