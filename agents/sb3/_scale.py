"""A larger learning rate for the boolean RNN's parameters than for the policy's MLP heads.

SB3 sets one learning rate on every parameter group at each update, so a per-group rate does
not last. Instead each boolean parameter is reparametrised as ``θ = k·φ`` and ``φ`` is trained:
with Adam (SB3's default optimizer), whose step does not depend on the gradient's scale, this
multiplies the step of ``θ`` by ``k``.
"""

from __future__ import annotations

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
