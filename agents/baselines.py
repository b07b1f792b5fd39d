"""GRU and LSTM next-obs predictors, and the one factory that builds every predictor kind.

The baselines share :class:`~agents.model.BooleanRNN`'s interface: ``model(act)`` maps int64
act tokens ``(B, T)`` to obs-token logits ``(B, T, V_obs)``, ``scan_states`` and ``readout`` are
its two halves, and ``model.config`` rebuilds the model. They are trained by the same loop
(:mod:`agents.train`) with the same state size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from agents.model import BooleanRNN

MODEL_KINDS = ("boolean", "gru", "lstm")
"""Predictor kinds: the boolean state-space RNN and the two recurrent baselines."""


class RecurrentBaseline(nn.Module):
    """Embedding → ``nn.GRU`` or ``nn.LSTM`` (one layer, ``hidden = state_dim``) → linear readout.

    On CUDA both recurrent layers run through cuDNN. The training hooks of
    :class:`~agents.model.BooleanRNN` are no-ops here: a baseline is not hardened, has no prior,
    and misses where the argmax is not the target.
    """

    hardens = False
    default_lr = 0.01

    def training_init_(self, keep: float) -> None:
        """No-op (PyTorch's own init)."""

    def prior_step_(self, rate: float) -> None:
        """No-op (no prior)."""

    @staticmethod
    def misses(logits: Tensor, target: Tensor) -> Tensor:
        """Bool ``(B, T)``: the argmax of ``logits`` is not the target."""
        return logits.argmax(-1) != target

    def __init__(self, cell: str, num_act_tokens: int, num_obs_tokens: int, state_dim: int) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        self.cell = cell
        self.num_act_tokens = num_act_tokens
        self.num_obs_tokens = num_obs_tokens
        self.state_dim = state_dim
        self.embed = nn.Embedding(num_act_tokens, state_dim)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(state_dim, state_dim, batch_first=True)
        self.head = nn.Linear(state_dim, num_obs_tokens)

    @property
    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this model: ``RecurrentBaseline(**model.config)``."""
        return {
            "cell": self.cell,
            "num_act_tokens": self.num_act_tokens,
            "num_obs_tokens": self.num_obs_tokens,
            "state_dim": self.state_dim,
        }

    def scan_states(self, act: Tensor) -> Tensor:
        """Hidden states ``(B, T, state_dim)`` after each token of act ``(B, T)``."""
        if act.dim() != 2 or act.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"act must be an int64 (B, T) tensor, got {act.dtype} {tuple(act.shape)}"
            )
        if act.numel() and (act.min() < 0 or act.max() >= self.num_act_tokens):
            raise ValueError(f"act tokens must lie in [0, {self.num_act_tokens})")
        states, _ = self.rnn(self.embed(act))
        return states

    def readout(self, states: Tensor) -> Tensor:
        """Obs-token logits for states ``(..., state_dim) -> (..., V_obs)``."""
        return self.head(states)

    def forward(self, act: Tensor) -> Tensor:
        """Logits ``(B, T, V_obs)`` for act ``(B, T)``; ``logits[:, t]`` follows ``act[:, t]``."""
        return self.readout(self.scan_states(act))


def build_model(kind: str, config: dict[str, Any]) -> nn.Module:
    """A predictor of ``kind`` (one of :data:`MODEL_KINDS`) from its ``config`` dict (a
    baseline takes only the sizes from it)."""
    if kind == "boolean":
        return BooleanRNN(**config)
    if kind in ("gru", "lstm"):
        sizes = ("num_act_tokens", "num_obs_tokens", "state_dim")
        return RecurrentBaseline(kind, *(config[key] for key in sizes))
    raise ValueError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")


def model_kind(model: nn.Module) -> str:
    """The kind name of a predictor built by :func:`build_model`."""
    return model.cell if isinstance(model, RecurrentBaseline) else "boolean"
