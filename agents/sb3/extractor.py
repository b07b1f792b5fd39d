"""A features extractor that runs the boolean scan over the observation history, for any SB3
algorithm (PPO, A2C, DQN).

SB3 features extractors are stateless, so :class:`~agents.sb3.history.TokenHistoryWrapper`
makes each observation the episode's history, and :class:`BooleanRNNExtractor` scans it and
returns the truth values of the final state::

    env = TokenHistoryWrapper(gym.make("CartPole-v1"), max_length=500)
    policy_kwargs = dict(features_extractor_class=BooleanRNNExtractor)
    model = PPO("MultiInputPolicy", env, policy_kwargs=policy_kwargs)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space, preprocess_obs
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
)

from agents.sb3._scale import FEATURE_SCALE, check_feature_scale, state_encoder, truth_values
from agents.sb3.history import LENGTH_KEY, step_space
from agents.sb3.tokens import (
    NORMALISATION_HINT,
    TokenChoice,
    is_token_space,
    mixed_radix,
    mixture_scan,
    read_token_ids,
    token_radices,
)
from agents.sb3.tokens import num_tokens as count_tokens


def usual_extractor_class(space: spaces.Space) -> type[BaseFeaturesExtractor]:
    """SB3's usual features extractor for ``space``: ``CombinedExtractor`` for a ``Dict``,
    ``NatureCNN`` for an image, ``FlattenExtractor`` otherwise."""
    if isinstance(space, spaces.Dict):
        return CombinedExtractor
    if is_image_space(space, check_channels=False):
        return NatureCNN
    return FlattenExtractor


class BooleanRNNExtractor(BaseFeaturesExtractor):
    """
    Features of the boolean RNN's state after reading an observation history.

    Token observations (``Discrete``, ``MultiDiscrete``) are read as tokens exactly; any other
    observation goes through SB3's usual features extractor for one step's space and a learned
    choice among ``num_tokens`` tokens (:class:`~agents.sb3.tokens.TokenChoice`). One scan runs
    over the padded history; the features are ``sigmoid(x / feature_scale)`` of the state at
    the last valid step, the soft truth value of each state bit.

    :param observation_space: The ``Dict`` space of :class:`~agents.sb3.history.TokenHistoryWrapper`
    :param state_dim: Number of state bits (the features' size)
    :param param_noise: Standard deviation of the parameter noise in training mode
    :param init_std: Standard deviation of the initial parameters
    :param scan: Scan method (see :func:`agents.ops.scan.boolean_scan`)
    :param lr_scale: How many times the learning rate the boolean parameters step (Adam); the
        default 30 is what made PPO learn RememberEasy and RepeatEasy (1 did not)
    :param feature_scale: The states are divided by it before the sigmoid
    :param num_tokens: ``K``, the tokens a non-token observation is mapped to
    :param token_choice: ``"straight_through"`` or ``"soft"`` (see
        :class:`~agents.sb3.tokens.TokenChoice`)
    :param step_extractor_class: Features extractor of one step's observation for the learned
        choice; default SB3's usual one for that space
    :param step_extractor_kwargs: Its keyword arguments
    :raises ValueError: on a space that is not a history, or bad settings; at run time on
        lengths outside ``[1, max_length]`` or token ids that are not integral
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
        num_tokens: int = 16,
        token_choice: str = "straight_through",
        step_extractor_class: type[BaseFeaturesExtractor] | None = None,
        step_extractor_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not (
            isinstance(observation_space, spaces.Dict)
            and isinstance(observation_space.spaces.get(LENGTH_KEY), spaces.Discrete)
            and len(observation_space.spaces) > 1
        ):
            raise ValueError(
                "BooleanRNNExtractor needs the Dict observation space of TokenHistoryWrapper "
                f"(history keys and a Discrete 'length'), got {observation_space}"
            )
        check_feature_scale(feature_scale)
        super().__init__(observation_space, features_dim=state_dim)
        self.feature_scale = feature_scale
        self.max_length = int(observation_space[LENGTH_KEY].n) - 1
        self.steps = {
            name: step_space(space, self.max_length)
            for name, space in observation_space.spaces.items()
            if name != LENGTH_KEY
        }
        single = next(iter(self.steps.values())) if len(self.steps) == 1 else None
        self.exact = single is not None and is_token_space(single) and step_extractor_class is None
        if self.exact:
            self.radices = token_radices(single)
            vocabulary = count_tokens(single)
            self.step_extractor, self.choice = None, None
        else:
            space = single if single is not None else spaces.Dict(self.steps)
            extractor_class = step_extractor_class or usual_extractor_class(space)
            self.step_extractor = extractor_class(space, **(step_extractor_kwargs or {}))
            self.choice = TokenChoice(self.step_extractor.features_dim, num_tokens, token_choice)
            vocabulary = num_tokens
        self.rnn = state_encoder(
            vocabulary,
            state_dim,
            param_noise=param_noise,
            init_std=init_std,
            scan=scan,
            lr_scale=lr_scale,
        )

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """Scan each history and return the truth values of its last valid state, ``(B, D)``.

        :param observations: The history keys (raw or as SB3 preprocesses them) and
            ``"length"`` (``(B,)`` or ``(B, 1)`` ids, or ``(B, max_length + 1)`` one-hot)
        """
        length = self._lengths(observations[LENGTH_KEY])
        B, L = length.shape[0], self.max_length
        if self.exact:
            (name,) = self.steps
            ids = read_token_ids(
                observations[name].reshape(B, -1), np.tile(self.radices, L), f"'{name}'"
            )
            states = self.rnn.scan_states(mixed_radix(ids.view(B, L, -1), self.radices))
        else:
            per_step = {
                name: self._per_step(observations[name], space, name)
                for name, space in self.steps.items()
            }
            step_obs = per_step if len(per_step) > 1 else next(iter(per_step.values()))
            weights = self.choice(self.step_extractor(step_obs)).view(B, L, -1)
            A, _, x0 = self.rnn.effective_parameters(noisy=self.training)
            states = mixture_scan(A, weights, x0.expand(B, -1), None, x0, self.rnn.scan)
        last_states = states[th.arange(B, device=states.device), length - 1]
        return truth_values(last_states, self.feature_scale)

    def _lengths(self, values: th.Tensor) -> th.Tensor:
        values = values.reshape(values.shape[0], -1)
        length = read_token_ids(values, np.array([self.max_length + 1]), "'length'")[:, 0]
        if length.numel() and bool(((length < 1) | (length > self.max_length)).any()):
            raise ValueError(
                f"'length' must lie in [1, {self.max_length}] (the valid steps of the history), "
                f"got values in [{int(length.min())}, {int(length.max())}]; {NORMALISATION_HINT}"
            )
        return length

    def _per_step(self, values: th.Tensor, space: spaces.Space, name: str) -> th.Tensor:
        """One row per step, ``(B * max_length, ...)``, preprocessed as SB3 does for ``space``."""
        B, L = values.shape[0], self.max_length
        if is_token_space(space):
            radices = token_radices(space)
            ids = read_token_ids(values.reshape(B, -1), np.tile(radices, L), f"'{name}'")
            return preprocess_obs(ids.view(B * L, -1).squeeze(-1), space)
        return preprocess_obs(values.reshape(B * L, *space.shape), space)
