"""Answer accuracy of a trained predictor on fresh episodes at 1×, 4×, 10× and 100× length,
and the gap between the boolean RNN's matrix scan and its sequential recurrence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from agents.errors import UsageError, check_device
from agents.model import BooleanRNN
from memgym import Rollouts, batch_rollouts, scaled_length_kwargs

FACTORS = (1, 4, 10, 100)
"""Length factors of the evaluation (docs/architecture.md; 100× is the long-range check)."""

TOKEN_BUDGET = 1 << 21
SCAN_GAP_BYTES = 1 << 30  # memory the Blelloch scan of the scan-gap sample may take
SCAN_GAP_COPIES = 4  # (B, T, D, D, D) intermediates alive at once in one combine, about
"""Most act tokens (batch × length) scored in one forward pass, to bound memory."""


@dataclass
class ScanGap:
    """Largest difference between ``method="sequential"`` and the ``"blelloch"`` matrix scan."""

    max_abs_logit_diff: float
    differing_argmax: int  # valid positions where the two predict different tokens
    positions: int  # valid positions compared


@dataclass
class EvalResult:
    """Answer accuracy per length factor (and episodes scored), plus the scan gap."""

    accuracy: dict[float, float] = field(default_factory=dict)
    episodes: dict[float, int] = field(default_factory=dict)
    scan_gap: ScanGap | None = None

    def summary(self) -> str:
        """One line per length factor, then the scan gap."""
        lines = [
            f"{factor:>5g}x length: {100 * acc:6.2f}% of {self.episodes[factor]} answers"
            for factor, acc in self.accuracy.items()
        ]
        if self.scan_gap is not None:
            gap = self.scan_gap
            lines.append(
                f"scan vs sequential: max |logit diff| {gap.max_abs_logit_diff:.3g}, "
                f"{gap.differing_argmax} differing predictions of {gap.positions}"
            )
        return "\n".join(lines)


def check_vocab(model: nn.Module, rollouts: Rollouts) -> None:
    """Raise ``ValueError`` when the model's token vocabularies differ from the env's."""
    model_sizes = (model.num_act_tokens, model.num_obs_tokens)
    env_sizes = (len(rollouts.act_tokens), len(rollouts.obs_tokens))
    if model_sizes != env_sizes:
        raise ValueError(
            f"the model reads {model_sizes[0]} act tokens and predicts {model_sizes[1]} obs "
            f"tokens, but the env has {env_sizes[0]} and {env_sizes[1]}: the checkpoint does "
            "not match this env"
        )


@torch.no_grad()
def answer_hits(model: nn.Module, rollouts: Rollouts, device: torch.device) -> int:
    """How many episodes the model answers right (argmax at the answer step), in chunks."""
    hits = 0
    rows = max(1, TOKEN_BUDGET // rollouts.act.shape[1])
    for start in range(0, len(rollouts), rows):
        part = slice(start, start + rows)
        act = torch.as_tensor(rollouts.act[part], device=device)
        steps = torch.as_tensor(rollouts.lengths[part] - 1, device=device)
        picked = answer_logits(model, act, steps).argmax(-1)
        hits += int((picked.cpu().numpy() == rollouts.answers[part]).sum())
    return hits


@torch.no_grad()
def scored_hits(model: nn.Module, rollouts: Rollouts, device: torch.device) -> tuple[int, int, int]:
    """``(right steps, scored steps, right episodes)`` over the scored (masked) steps.

    An episode is right when every one of its scored steps is (argmax of the logits) — the
    answer accuracy of envs with several scored steps, such as POPGym's. Works in chunks.
    """
    steps = scored = episodes = 0
    rows = max(1, TOKEN_BUDGET // rollouts.act.shape[1])
    for start in range(0, len(rollouts), rows):
        part = slice(start, start + rows)
        picked = model(torch.as_tensor(rollouts.act[part], device=device)).argmax(-1).cpu().numpy()
        mask = rollouts.mask[part]
        right = (picked == rollouts.target[part]) | ~mask
        steps += int((right & mask).sum())
        scored += int(mask.sum())
        episodes += int(right.all(axis=1).sum())
    return steps, scored, episodes


def answer_logits(model: nn.Module, act: Tensor, steps: Tensor) -> Tensor:
    """Logits ``(B, V)`` at each row's answer step ``steps`` (``(B,)``).

    Only those states are read out: the boolean RNN's readout at every position would hold
    ``B·T·V·D`` floats, gigabytes for a chunk of long episodes.
    """
    rows = torch.arange(len(steps), device=act.device)
    return model.readout(model.scan_states(act)[rows, steps])


def accuracy_at(
    model: nn.Module,
    env_id: str,
    env_kwargs: dict[str, Any],
    factor: float,
    episodes: int,
    device: torch.device,
    seed: int = 0,
) -> float:
    """Answer accuracy on ``episodes`` fresh episodes ``factor`` times the env's length."""
    kwargs = scaled_length_kwargs(env_id, factor, **env_kwargs)
    hits = 0
    per_batch = max(1, min(episodes, TOKEN_BUDGET // (kwargs["n_range"][1] + 1)))
    for index, start in enumerate(range(0, episodes, per_batch)):
        size = min(per_batch, episodes - start)
        rollouts = batch_rollouts(env_id, size, seed=seed + 1000 * index + round(factor), **kwargs)
        check_vocab(model, rollouts)
        hits += answer_hits(model, rollouts, device)
    return hits / episodes


@torch.no_grad()
def scan_gap(
    model: BooleanRNN,
    env_id: str,
    env_kwargs: dict[str, Any],
    device: torch.device,
    episodes: int = 256,
    seed: int = 7,
) -> ScanGap:
    """Compare the sequential recurrence with the Blelloch matrix scan on a sample of episodes.

    The matrix scan materialises about ``T·D³`` floats per episode and level, so the sample is
    cut to fit ``SCAN_GAP_BYTES``: fewer episodes, and only a prefix of each when even one is
    too large. ``ScanGap.positions`` says how many positions were compared.
    """
    rollouts = batch_rollouts(env_id, episodes, seed=seed, **env_kwargs)
    cube_bytes = 4 * SCAN_GAP_COPIES * model.state_dim**3
    room = max(1, SCAN_GAP_BYTES // cube_bytes)  # tokens, padding included
    length = min(rollouts.act.shape[1], 1 << (room.bit_length() - 1))
    rows = max(1, min(episodes, SCAN_GAP_BYTES // (cube_bytes * _padded(length))))
    act = torch.as_tensor(rollouts.act[:rows, :length], device=device)
    mask = torch.as_tensor(rollouts.mask[:rows, :length], device=device)
    method = model.scan
    try:
        model.scan = "sequential"
        sequential = model(act)
        model.scan = "blelloch"
        scanned = model(act)
    finally:
        model.scan = method
    diff = (sequential - scanned).abs().amax(-1)[mask]
    differ = (sequential.argmax(-1) != scanned.argmax(-1))[mask]
    return ScanGap(float(diff.max()), int(differ.sum()), int(mask.sum()))


def _padded(length: int) -> int:
    """The power of two the Blelloch scan pads a sequence of ``length`` to."""
    return 1 << max(0, length - 1).bit_length()


def evaluate(
    model: nn.Module,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    *,
    episodes: int = 10_000,
    long_episodes: int = 1_000,
    factors: tuple[float, ...] = FACTORS,
    device: str | torch.device = "cpu",
    seed: int = 2024,
) -> EvalResult:
    """Answer accuracy at each length factor (``long_episodes`` at factors above 10) and, for
    the boolean RNN, the scan gap.

    Raises :class:`~agents.errors.UsageError` when ``episodes`` or ``long_episodes`` is not a
    positive integer or ``device`` is not on this machine.
    """
    for name, count in (("episodes", episodes), ("long_episodes", long_episodes)):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise UsageError(f"{name} must be a positive integer, got {count!r}")
    env_kwargs = env_kwargs or {}
    device = check_device(device)
    model = model.to(device).eval()
    result = EvalResult()
    for factor in factors:
        count = episodes if factor <= 10 else long_episodes
        result.accuracy[factor] = accuracy_at(
            model, env_id, env_kwargs, factor, count, device, seed
        )
        result.episodes[factor] = count
    if isinstance(model, BooleanRNN):
        result.scan_gap = scan_gap(model, env_id, env_kwargs, device)
    return result
