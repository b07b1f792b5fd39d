"""Dormant-bit resampling: give an output that fires where it should not a state bit of its own.

A boolean RNN often names an answer straight from a memory bit: CountEasy's count-8 bit fed the
output ``8``, so right after the eighth ``1``, before ``[ask]``, the automaton named ``[wait]``
and ``8`` at once (the soft model was right only because ``[wait]`` was larger). The fix, a bit
"asked, with count 8", is a state bit the model does not use yet, and gradient descent cannot
recruit it: an unused bit is false everywhere, so every path through it carries a weight near
``e^-8`` and gets no gradient to speak of. Like resampling dead neurons in sparse autoencoders,
:func:`resample_dormant_bits` rewires such a bit directly, from the batch's own mistakes:

1. Run the model without noise on the batch. An output is *over-shared* when it is true at a
   valid position whose target it is not (a false positive of the thresholded readout).
2. For each over-shared output ``v``: pick a position where ``v`` is the target and the token
   ``a`` read there. Of the bits true in the state before it, take as evidence ``k`` the one
   that, whenever it is true before an ``a`` on the batch, has ``v`` as the target, and is so
   most often; if no bit is such exact evidence, leave ``v`` alone. Pick a dormant bit ``u``
   (never true on the batch, not in ``x0``).
3. Rewire ``u`` to "token ``a`` was read while ``k`` was true; kept from then on; feeds no other
   bit; names ``v``", with margins of ``RESAMPLE_MARGIN``, and clear Adam's moments of the
   entries it changed.

If the new bit is useless, training turns it off again; if it is the missing answer bit, the
sign loss can now remove the shortcut. On CountEasy (seeds 0 and 2, resampling every 1,000 steps
of hardening) the automaton went from one wrong step in 496 exhaustive episodes (seed 2: no
count-8 state at all, 97.5% of answers) to verifying exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from agents.model import BooleanRNN

RESAMPLE_MARGIN = 10.0
"""Magnitude (before the parameter bound) of every entry a resampling writes."""
ANSWER_LOGIT = 3.0
"""The resampled bit's readout entry for its output: true, but below a settled answer's."""


@dataclass(frozen=True)
class Resample:
    """One rewired bit: ``bit`` turns on when ``token`` is read while ``source`` is on, and
    names the output ``output``."""

    step: int
    output: int
    token: int
    source: int
    bit: int


def resample_dormant_bits(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    act: Tensor,
    target: Tensor,
    mask: Tensor,
    generator: torch.Generator,
    step: int = 0,
) -> list[Resample]:
    """Rewire one dormant bit for each over-shared output of the batch (see the module doc);
    the rewirings done (none when nothing is over-shared or no bit is dormant)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        states = model.scan_states(act)
        logits = model.readout(states)
    model.train(was_training)
    true_bits, fired = states > 0, logits > 0
    is_target = F.one_hot(target, logits.shape[-1]).bool()
    start = model.x0.detach() > 0
    before = torch.cat([start.expand(len(act), 1, -1), true_bits[:, :-1]], dim=1)
    dormant = torch.nonzero(~(true_bits[mask].any(0) | start)).flatten().tolist()
    over_shared = torch.nonzero((fired & ~is_target)[mask].any(0)).flatten().tolist()
    done = []
    for output in over_shared:
        if not dormant:
            break
        named = is_target[..., output] & mask
        positions = torch.nonzero(named & fired[..., output])
        if len(positions) == 0:
            positions = torch.nonzero(named)
            if len(positions) == 0:
                continue
        b, t = positions[_pick(len(positions), generator)].tolist()
        token = int(act[b, t])
        source = _evidence_bit(before, act == token, mask, named, before[b, t])
        if source is None:
            continue
        bit = dormant.pop(_pick(len(dormant), generator))
        _rewire(model, optimizer, bit, token, source, output)
        done.append(Resample(step, output, token, source, bit))
    return done


def _evidence_bit(
    before: Tensor, at_token: Tensor, mask: Tensor, named: Tensor, candidates: Tensor
) -> int | None:
    """Among the ``candidates`` (bool ``(D,)``), the bit that, true before the token is read,
    always means the output is the target on this batch, and most often so; None if none does.
    ``before`` ``(B, T, D)``: the states before each position; ``at_token``, ``mask``,
    ``named`` ``(B, T)``: where the token is read, the valid positions, where the output is
    the target."""
    reads = at_token & mask
    evidence = before[reads].float()  # (N, D)
    support = evidence.sum(0)
    hits = (evidence * named[reads].float().unsqueeze(1)).sum(0)
    exact = candidates & (support > 0) & (hits == support)
    if not exact.any():
        return None
    return int(torch.where(exact, support, -1.0).argmax())


def _pick(n: int, generator: torch.Generator) -> int:
    return int(torch.randint(n, (1,), generator=generator))


def _rewire(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    bit: int,
    token: int,
    source: int,
    output: int,
) -> None:
    m = RESAMPLE_MARGIN
    with torch.no_grad():
        model.A[:, bit, :] = -m
        model.A[:, :, bit] = -m
        model.A[:, bit, bit] = m
        model.A[token, bit, source] = m
        model.C[:, bit] = -m
        model.C[output, bit] = ANSWER_LOGIT
    for param, index in (
        (model.A, (slice(None), bit)),
        (model.A, (Ellipsis, bit)),
        (model.C, (Ellipsis, bit)),
    ):
        for moment in optimizer.state.get(param, {}).values():
            if torch.is_tensor(moment) and moment.shape == param.shape:
                moment[index] = 0
