"""How the plug-ins turn an observation into the boolean RNN's input at each step.

The boolean RNN reads one act token per step, ``x_t = A(u_t) ⊗ x_{t-1}`` with
``A(u) = Σ_i u_i A_i``:

- ``Discrete`` (any ``start``) and ``MultiDiscrete`` observations are tokens exactly: ``u`` is
  the one-hot of the token (a ``MultiDiscrete`` observation is one mixed-radix token,
  ``Σ_j a_j · Π_{k<j} n_k``);
- anything else (``Box``, images, ``Dict``) goes through a features extractor and a linear layer
  to scores over ``K`` tokens; ``u`` is the softmax of the scores (``"soft"``) or its
  straight-through one-hot (``"straight_through"``: the forward pass reads the single best
  token's matrix, the backward pass the softmax's gradient), trained end to end.

:func:`read_token_ids` is the one place where token ids are read from observations: it takes
raw ids or SB3's one-hot encoding and refuses anything else (a rescaled id is never rounded).
"""

from __future__ import annotations

import math

import numpy as np
import torch as th
from gymnasium import spaces
from torch import nn

from agents.ops.scan import boolean_scan

TOKEN_CHOICES = ("straight_through", "soft")
MAX_MIXED_RADIX_TOKENS = 4096
NORMALISATION_HINT = (
    "token ids must reach the model unchanged: do not normalise these keys (VecNormalize: "
    "norm_obs=False, or norm_obs_keys without them)"
)


def is_token_space(space: spaces.Space) -> bool:
    """Whether observations of ``space`` are read as tokens exactly (``Discrete``, or 1-D
    ``MultiDiscrete``)."""
    return isinstance(space, spaces.Discrete) or (
        isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1
    )


def token_radices(space: spaces.Space) -> np.ndarray:
    """Number of values of each component of a token space: ``(k,)`` int64."""
    if not is_token_space(space):
        raise ValueError(f"not a token space (Discrete or 1-D MultiDiscrete): {space}")
    radices = np.array(
        [int(space.n)] if isinstance(space, spaces.Discrete) else space.nvec, dtype=np.int64
    )
    if radices.min() < 2:
        raise ValueError(f"every component of a token space needs 2 values or more: {space}")
    return radices


def num_tokens(space: spaces.Space) -> int:
    """Number of distinct tokens of a token space (the product of its radices)."""
    count = math.prod(int(n) for n in token_radices(space))
    if count > MAX_MIXED_RADIX_TOKENS:
        raise ValueError(
            f"{space} has {count} distinct observations, more than the {MAX_MIXED_RADIX_TOKENS} "
            "tokens read exactly; pass a features_extractor_class to learn a choice among "
            "fewer tokens"
        )
    return count


def read_token_ids(values: th.Tensor, radices: np.ndarray, name: str) -> th.Tensor:
    """
    Token ids of ``k`` components from raw ids or from SB3's one-hot encoding.

    :param values: ``(N, k)`` raw ids (any dtype; float ids must be integral), or ``(N, Σ n_j)``
        concatenated one-hots as SB3's ``preprocess_obs`` makes them
    :param radices: ``(k,)`` number of values of each component
    :param name: What the values are, for error messages
    :return: ``(N, k)`` int64 ids, component ``j`` in ``[0, n_j)``
    :raises ValueError: on a shape that is neither form, non-integral ids, ids out of range or
        rows that are not one-hot, naming the cause
    """
    k, total = len(radices), int(radices.sum())
    if values.dim() != 2 or values.shape[1] not in (k, total):
        raise ValueError(
            f"{name} must be shaped (N, {k}) (ids) or (N, {total}) (one-hot), got "
            f"{tuple(values.shape)}"
        )
    if values.shape[1] == total:
        blocks = th.split(values, [int(n) for n in radices], dim=1)
        if values.numel() and not all(
            bool(((b == 0) | (b == 1)).all() and (b.sum(dim=1) == 1).all()) for b in blocks
        ):
            raise ValueError(f"{name} are not one-hot token encodings; {NORMALISATION_HINT}")
        return th.stack([b.argmax(dim=1) for b in blocks], dim=1)
    if values.is_floating_point() and not bool((values == values.round()).all()):
        bad = values[values != values.round()][0]
        raise ValueError(
            f"{name} hold non-integral token ids (e.g. {float(bad):g}); {NORMALISATION_HINT}"
        )
    ids = values.long()
    high = th.as_tensor(radices, device=ids.device)
    if ids.numel() and bool(((ids < 0) | (ids >= high)).any()):
        raise ValueError(
            f"{name} hold ids outside [0, n) for n = {radices.tolist()}: values in "
            f"[{int(ids.min())}, {int(ids.max())}]; {NORMALISATION_HINT}"
        )
    return ids


def mixed_radix(ids: th.Tensor, radices: np.ndarray) -> th.Tensor:
    """One token per row of ``(..., k)`` component ids: ``Σ_j ids_j · Π_{i<j} n_i``."""
    weights = np.concatenate([[1], np.cumprod(radices[:-1])]).astype(np.int64)
    return (ids * th.as_tensor(weights, device=ids.device)).sum(dim=-1)


class TokenChoice(nn.Module):
    """
    A learned choice among ``num_tokens`` tokens from a features vector: ``(N, F) -> (N, K)``
    weights ``u`` (rows sum to 1).

    :param features_dim: Size of the features
    :param num_tokens: Number of tokens ``K`` to choose among
    :param token_choice: ``"straight_through"`` (one-hot forward, softmax gradient) or
        ``"soft"`` (the softmax)
    """

    def __init__(self, features_dim: int, num_tokens: int, token_choice: str) -> None:
        super().__init__()
        if token_choice not in TOKEN_CHOICES:
            raise ValueError(
                f"unknown token_choice {token_choice!r}; choose one of {TOKEN_CHOICES}"
            )
        if num_tokens < 2:
            raise ValueError(f"num_tokens must be at least 2, got {num_tokens}")
        self.token_choice = token_choice
        self.scores = nn.Linear(features_dim, num_tokens)

    def forward(self, features: th.Tensor) -> th.Tensor:
        """Weights ``u`` of each token, ``(N, K)``."""
        soft = th.softmax(self.scores(features), dim=-1)
        if self.token_choice == "soft":
            return soft
        hard = nn.functional.one_hot(soft.argmax(dim=-1), soft.shape[-1]).to(soft.dtype)
        return hard + (soft - soft.detach())  # exactly the one-hot forward


def mixture_scan(
    A: th.Tensor,
    weights: th.Tensor,
    state: th.Tensor,
    resets: th.Tensor | None,
    reset_state: th.Tensor,
    method: str,
) -> th.Tensor:
    """
    States of ``x_t = A(u_t) ⊗ x_{t-1}`` with ``A(u) = Σ_i u_i A_i``, in one scan.

    Each step's matrix is built once and read as a token of its own, so the scan's backward
    gives the gradient of every step's matrix, hence of ``u`` and of ``A``.

    :param A: ``(K, D, D)`` bounded matrices
    :param weights: ``(B, T, K)`` token weights ``u``
    :param state: ``(B, D)`` state before the first step
    :param resets: ``(B, T)`` bool, where the state is replaced by ``reset_state`` first
    :param reset_state: ``(D,)`` the start state
    :param method: Scan method (see :func:`agents.ops.scan.boolean_scan`)
    :return: ``(B, T, D)`` states after each step
    """
    B, T, K = weights.shape
    step_matrices = (weights.reshape(B * T, K) @ A.flatten(1)).view(B * T, *A.shape[1:])
    steps = th.arange(B * T, device=weights.device).view(B, T)
    return boolean_scan(
        step_matrices,
        steps,
        state,
        resets=resets,
        reset_state=reset_state if resets is not None else None,
        method=method,
    )
