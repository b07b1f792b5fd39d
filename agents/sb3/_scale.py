"""A larger learning rate for the boolean RNN's parameters than for the policy's MLP heads.

SB3 sets one learning rate on every parameter group at each update, so a per-group rate does
not last. Instead each boolean parameter is reparametrised as ``θ = k·φ`` and ``φ`` is trained:
with Adam (SB3's default optimizer), whose step does not depend on the gradient's scale, this
multiplies the step of ``θ`` by ``k``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from agents.model import BooleanRNN


class _Scale(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, phi: Tensor) -> Tensor:
        return phi * self.scale

    def right_inverse(self, theta: Tensor) -> Tensor:
        return theta / self.scale


def scale_learning_rate(rnn: BooleanRNN, lr_scale: float) -> BooleanRNN:
    """Reparametrise ``rnn``'s ``A``, ``C`` and ``x0`` so Adam steps them ``lr_scale`` times
    further; the values (and the model's outputs) stay the same. Returns ``rnn``."""
    if lr_scale <= 0:
        raise ValueError(f"lr_scale must be positive, got {lr_scale}")
    if lr_scale != 1:
        for name in ("A", "C", "x0"):
            parametrize.register_parametrization(rnn, name, _Scale(lr_scale))
    return rnn


FEATURE_SCALE = 8.0
"""Default ``feature_scale``: states span about ±30, and ``sigmoid(x)`` is flat beyond ±5, so
without a scale the policy's gradient hardly reaches bits that have saturated. On RepeatEasy
(3 seeds, 120k env steps) PPO with the extractor reached 0.98–1.0 with 8 and 0.92–0.98 with 1."""


def truth_values(states: Tensor, feature_scale: float) -> Tensor:
    """The plug-ins' features: soft truth values ``sigmoid(x / feature_scale)`` of the states."""
    return torch.sigmoid(states / feature_scale)


def check_feature_scale(feature_scale: float) -> None:
    """Refuse a feature scale that is not positive."""
    if not feature_scale > 0:
        raise ValueError(f"feature_scale must be positive, got {feature_scale}")


def state_encoder(
    num_tokens: int,
    state_dim: int,
    *,
    param_noise: float,
    init_std: float,
    scan: str,
    lr_scale: float,
) -> BooleanRNN:
    """The boolean RNN both plug-ins run: its states are the features (its readout ``C`` has a
    single unused row), and its parameters take Adam steps ``lr_scale`` times further."""
    rnn = BooleanRNN(
        num_tokens, 1, state_dim, param_noise=param_noise, init_std=init_std, scan=scan
    )
    return scale_learning_rate(rnn, lr_scale)
