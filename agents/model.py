"""The boolean state-space recurrent network.

    x_{t+1} = A[a_t] ⊗ x_t        y_t = C ⊗ x_{t+1}  (logits over obs tokens)

The parameters are the real matrices ``A`` (one per act token), ``C`` and the initial state
``x0``; there is nothing else. Each enters through :func:`bound_parameter` (keeping its sign,
its boolean value), after an optional Gaussian sample ``θ + σ·ε`` in training mode; training
may also shift each row by a shared Gaussian draw (``row_noise``, see :func:`shift_rows`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.ops.boolean import bool_matvec, bound_parameter, shift_rows
from agents.ops.readout import readout
from agents.ops.scan import METHODS, boolean_scan, runnable_method

# Means of the initial A: near the identity (see BooleanRNN).
INIT_DIAGONAL = 4.0
INIT_OFF_DIAGONAL = -2.0


class BooleanRNN(nn.Module):
    """Boolean state-space RNN over act tokens, predicting obs tokens.

    Initialisation (σ = ``init_std``): each ``A_i`` starts near the identity, diagonal
    ``N(INIT_DIAGONAL, σ²)`` and off-diagonal ``N(INIT_OFF_DIAGONAL, σ²)``, so every token keeps
    the state by default and information survives long waits (like an LSTM's forget-gate bias);
    ``C ~ N(0, σ²)``; ``x0 ~ N(-σ, σ²)`` with its first bit at ``+σ``, one true start state as
    in a deterministic automaton. With ``A ~ N(0, σ²)`` the state forgets its start within a few
    tokens and, trained on RememberEasy (D = 16), nothing beyond chance was learned in 1,000
    steps; with this start every seed reached 100% within a few hundred steps.

    ``scan`` names the method of :func:`agents.ops.scan.boolean_scan` to run where it can run:
    on a device it cannot run on (``fused`` and ``chunked`` off CUDA) ``auto`` runs instead,
    so a model trained with a CUDA kernel evaluates on the CPU, loaded as it was saved.
    ``model.config`` keeps the method asked for.

    The training loop (:mod:`agents.train`) calls the methods every predictor kind has:
    :meth:`training_init_`, :meth:`misses`, :meth:`prior_step_`; ``hardens`` says that the
    model is hardened into an automaton, ``default_lr`` is its Adam learning rate.
    """

    hardens = True
    default_lr = 0.1

    def __init__(
        self,
        num_act_tokens: int,
        num_obs_tokens: int,
        state_dim: int,
        *,
        param_noise: float = 0.0,
        init_std: float = 1.0,
        scan: str = "auto",
        row_noise: float = 0.0,
    ) -> None:
        super().__init__()
        if min(num_act_tokens, num_obs_tokens) < 1 or state_dim < 2:
            raise ValueError(
                "BooleanRNN needs at least one act and one obs token and state_dim >= 2, got "
                f"{num_act_tokens}, {num_obs_tokens}, {state_dim}"
            )
        if scan not in METHODS:
            raise ValueError(f"unknown scan method {scan!r}; choose one of {METHODS}")
        self.num_act_tokens = num_act_tokens
        self.num_obs_tokens = num_obs_tokens
        self.state_dim = state_dim
        self.param_noise = param_noise
        self.row_noise = row_noise
        self.init_std = init_std
        self.scan = scan
        D, s = state_dim, init_std
        A = torch.randn(num_act_tokens, D, D) * s + INIT_OFF_DIAGONAL
        A.diagonal(dim1=1, dim2=2).add_(INIT_DIAGONAL - INIT_OFF_DIAGONAL)
        self.A = nn.Parameter(A)
        self.C = nn.Parameter(torch.randn(num_obs_tokens, D) * s)
        x0 = torch.randn(D) * s - s
        x0[0] = s
        self.x0 = nn.Parameter(x0)

    @property
    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this model: ``BooleanRNN(**model.config)``."""
        return {
            "num_act_tokens": self.num_act_tokens,
            "num_obs_tokens": self.num_obs_tokens,
            "state_dim": self.state_dim,
            "param_noise": self.param_noise,
            "init_std": self.init_std,
            "scan": self.scan,
            "row_noise": self.row_noise,
        }

    def effective_parameters(self, noisy: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """Bounded ``(A, C, x0)``. With ``noisy``, one fresh sample of each: Gaussian noise of
        σ = ``param_noise`` on every entry before bounding, then a shift of σ = ``row_noise``
        shared by each row of every ``A_i``, of ``C`` and by all of ``x0`` (:func:`shift_rows`)."""
        params = (self.A, self.C, self.x0)
        if noisy and self.param_noise > 0:
            params = tuple(p + self.param_noise * torch.randn_like(p) for p in params)
        params = tuple(bound_parameter(p) for p in params)
        if noisy and self.row_noise > 0:
            params = tuple(shift_rows(p, self.row_noise) for p in params)
        return params

    def boolean_parameters(self) -> tuple[Tensor, Tensor, Tensor]:
        """The thresholded automaton: ``(A > 0, C > 0, x0 > 0)`` as bool tensors (the means)."""
        return self.A.detach() > 0, self.C.detach() > 0, self.x0.detach() > 0

    def training_init_(self, keep: float) -> None:
        """Re-draw every ``A_i`` as ``N(-keep/2, σ) + keep·I`` (σ = ``init_std``).

        Each bit starts by keeping itself, so gradients reach the first token of a long
        episode; the off-diagonal mean ``-keep/2`` lies well below ``-log D`` (a soft OR of D
        "false" terms at ``-a`` is about ``log D - a``), or every bit soon turns true.
        """
        with torch.no_grad():
            eye = torch.eye(self.state_dim, device=self.A.device)
            self.A.copy_(torch.randn_like(self.A) * self.init_std - keep / 2 + keep * eye)

    def keep_prior(self) -> Tensor:
        """How far the ``A_i`` are from "every bit keeps itself and feeds no other":
        ``Σ relu(m - s·A)`` over the bounded entries, ``s = +1`` on the diagonal and ``-1`` off
        it, margin ``m = log D + 2`` (a soft OR of D entries at ``-m`` stays below ``-2``)."""
        A = bound_parameter(self.A)
        D = A.shape[-1]
        sign = 2 * torch.eye(D, dtype=A.dtype, device=A.device) - 1
        return torch.relu(math.log(D) + 2 - sign * A).sum()

    def prior_step_(self, rate: float) -> None:
        """Move the ``A_i`` down the gradient of :meth:`keep_prior` by ``rate`` times it,
        outside the optimizer (as AdamW decays weights): through Adam an entry the data rarely
        touches, such as the link of a rare count, would be pulled at nearly the full learning
        rate between the batches that hold it."""
        (grad,) = torch.autograd.grad(self.keep_prior(), self.A)
        with torch.no_grad():
            self.A.sub_(rate * grad)

    @staticmethod
    def misses(logits: Tensor, target: Tensor) -> Tensor:
        """Bool ``(B, T)``: the boolean readout does not name exactly the target (the target's
        logit is not positive, or another one is), the criterion of the extracted automaton."""
        return ((logits > 0) != F.one_hot(target, logits.shape[-1]).bool()).any(-1)

    def initial_state(self, batch_size: int) -> Tensor:
        """The start state ``x0`` (bounded mean) repeated ``batch_size`` times: ``(B, D)``."""
        return bound_parameter(self.x0).expand(batch_size, -1).contiguous()

    def readout(self, states: Tensor) -> Tensor:
        """Obs-token logits ``C ⊗ x`` for states ``(..., D) -> (..., V_obs)`` (means of ``C``)."""
        return self._readout(bound_parameter(self.C), states)

    def forward(
        self, act: Tensor, state: Tensor | None = None, resets: Tensor | None = None
    ) -> Tensor:
        """Logits ``(B, T, V_obs)`` for act ``(B, T)``; ``logits[:, t]`` follows ``act[:, t]``.

        ``state`` (``(B, D)``, default the start state) and ``resets``: see :meth:`scan_states`.
        """
        A, C, x0 = self.effective_parameters(noisy=self.training)
        return self._readout(C, self._scan(A, x0, act, state, resets))

    def scan_states(
        self, act: Tensor, state: Tensor | None = None, resets: Tensor | None = None
    ) -> Tensor:
        """States ``(B, T, D)`` after each token of ``act`` ``(B, T)``.

        ``state`` ``(B, D)`` continues from given states instead of the start state. Where
        ``resets[b, t]`` (bool, ``(B, T)``) is true, the state is reset to the start state
        before ``act[b, t]`` is read.
        """
        A, _, x0 = self.effective_parameters(noisy=self.training)
        return self._scan(A, x0, act, state, resets)

    def step(self, state: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """One token per sequence: ``(B, D), (B,) -> logits (B, V_obs), next state (B, D)``."""
        self._check_act(act, dims=1)
        self._check_state(state, act.shape[0])
        state = bool_matvec(bound_parameter(self.A)[act], state)
        return self.readout(state), state

    def _readout(self, C: Tensor, states: Tensor) -> Tensor:
        return readout(C, states, compiled=self.scan == "compiled")

    def _scan(
        self, A: Tensor, x0: Tensor, act: Tensor, state: Tensor | None, resets: Tensor | None
    ) -> Tensor:
        self._check_act(act, dims=2)
        B = act.shape[0]
        if state is None:
            state = x0.expand(B, -1)
        else:
            self._check_state(state, B)
        if resets is not None and (resets.dtype != torch.bool or resets.shape != act.shape):
            raise ValueError(
                f"resets must be a bool tensor shaped like act {tuple(act.shape)}, got "
                f"{resets.dtype} {tuple(resets.shape)}"
            )
        return boolean_scan(
            A,
            act,
            state,
            resets=resets,
            reset_state=x0 if resets is not None else None,
            method=runnable_method(self.scan, A.device),
        )

    def _check_act(self, act: Tensor, dims: int) -> None:
        shape = "(B, T)" if dims == 2 else "(B,)"
        if not isinstance(act, Tensor):
            raise TypeError(
                f"act must be an int64 or int32 torch tensor of token ids, got a "
                f"{type(act).__module__}.{type(act).__name__} (torch.as_tensor converts it)"
            )
        if act.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"act must be an int64 or int32 tensor of token ids, got {act.dtype}")
        if act.dim() != dims:
            raise ValueError(f"act must be shaped {shape}, got {tuple(act.shape)}")
        if act.numel() and (act.min() < 0 or act.max() >= self.num_act_tokens):
            raise ValueError(
                f"act tokens must lie in [0, {self.num_act_tokens}), got values in "
                f"[{int(act.min())}, {int(act.max())}]"
            )

    def _check_state(self, state: Tensor, batch_size: int) -> None:
        if state.shape != (batch_size, self.state_dim) or not state.is_floating_point():
            raise ValueError(
                f"state must be a floating tensor shaped (B, D) = ({batch_size}, "
                f"{self.state_dim}), got {state.dtype} {tuple(state.shape)}"
            )
