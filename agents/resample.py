"""Dormant-bit resampling: give an output that fires where it should not a state bit of its own.

A boolean RNN often names an answer straight from a memory bit: CountEasy's count-8 bit fed the
output ``8``, so right after the eighth ``1``, before ``[ask]``, the automaton named ``[wait]``
and ``8`` at once (the soft model was right only because ``[wait]`` was larger). The fix, a bit
"asked, with count 8", is a state bit the model does not use yet, and gradient descent cannot
recruit it: an unused bit is false everywhere, so every path through it carries a weight near
``e^-8`` and gets no gradient to speak of. Like resampling dead neurons in sparse autoencoders,
:func:`resample_dormant_bits` rewires such a bit directly, from the batch's own mistakes:

1. Run the thresholded automaton (:mod:`agents.extract`) on the batch. An output is
   *over-shared* when it is true at a valid position whose target it is not.
2. For each over-shared output ``v``: pick a position where ``v`` is the target and the token
   ``a`` read there. Of the bits true in the state before it, take as evidence ``k`` the one
   that, whenever it is true before an ``a`` on the batch, has ``v`` as the target, and is so
   most often; if no bit is such exact evidence, leave ``v`` alone. Pick a dormant bit ``u``
   (never true on the batch, not in ``x0``, and no bit sets it).
3. Rewire ``u`` to "token ``a`` was read while ``k`` was true; kept from then on; feeds no other
   bit; names ``v``", with margins of ``RESAMPLE_MARGIN``, and clear Adam's moments of the
   entries it changed.

If the new bit is useless, training turns it off again; if it is the missing answer bit, the
sign loss can now remove the shortcut. On CountEasy (seeds 0 and 2, resampling every 1,000 steps
of hardening) the automaton went from one wrong step in 496 exhaustive episodes (seed 2: no
count-8 state at all, 97.5% of answers) to verifying exactly.

With ``successors=True`` it also grows what the model lacks altogether. CountMedium's counter
stopped at 8: the ninth ``1`` cleared the count-8 bit and set no other, so every count from 9
on ended in one state, and the bit that would hold "count 9" is dormant, out of gradient's
reach. For each *missed* output (the target, not named), at a position where it is missed:

1. If a bit true before it is exact evidence for the output at the token read there, rewire a
   dormant bit as that output's answer bit, as above: the state still tells, the readout does
   not.
2. Otherwise take the last transition before the miss that cleared a bit and set none
   (*lossy*: information was dropped there): token ``a``, cleared bit ``k`` (the lowest, if
   several). Rewire a dormant bit ``u`` as ``k``'s successor: true when ``a`` is read while
   ``k`` is true, and kept or cleared by each token as ``k`` is (``A_i[u, u] = A_i[k, k]``); it
   names nothing.

Then run the rewired model on the batch again and repeat, until a round rewires nothing (no
(token, source) pair twice in one call). A counter that stops at 8 thus grows, in one call,
"count 9", its answer bit, "count 10", and so on up to the highest count on the batch; the
rarest counts get theirs at a later call whose batch holds them. Every 500 hardening steps,
CountMedium's automaton went from counting to 8 (67% of answers) to verifying exactly
(docs/results-notes.md).

With ``delays=True`` a missed output that no bit tells of gets a *delay line* instead. Repeat
asks for the card read ``lag`` steps back, and RepeatMedium's model kept a shift register for
card 0 only: the other cards it never held as a true bit, so nothing was lost at any one step
for a successor to restore. What does tell is the token itself, ``lag`` steps back:

1. Find the (token ``a``, lag ``d``) such that reading ``a`` ``d`` steps before the token read
   at the miss always means the output is the target there on the batch, and most often so.
2. Rewire ``d + 1`` dormant bits: "``a`` just read" (set from any bit, kept only by ``a``),
   then ``d - 1`` bits each "the one before was true a step ago", then an answer bit "the
   token at the miss read while the last of those was true", which names the output. Adam's
   moments of a delay line are kept: when they were cleared, two of three lines grown on
   RepeatMedium died within 3,000 steps.

Every 1,000 hardening steps, RepeatMedium seed 0 grew a line for each card by step 6,000 and
went from 85% of answers (no verified automaton) to 100% and a verified one.

With ``latches=True`` a missed output that neither a bit nor a delay line tells of gets a
*latch*: the delay line of no fixed lag. Remember asks for the card read first, any number of
steps back (64 to 256 on RememberHard), so no lag is exact. Find the token ``a`` such that
having read ``a`` at any step before the token read at the miss always means the output is the
target there, and most often so; rewire two dormant bits, "``a`` was read" (set from any bit,
kept by every token) and an answer bit "the token at the miss read while the latch was true",
which names the output. Every 200 hardening steps from step 200, RememberHard grew a latch for
each of its 64 cards by step 1,000 and went from no answer right to 100% and a verified
automaton.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from agents.extract import Automaton
from agents.model import BooleanRNN

RESAMPLE_MARGIN = 40.0
"""Magnitude (before the parameter bound; about 26 after it) of every entry a resampling writes:
as far from 0 as a trained model's settled links, so that hardening's row noise (σ up to 8) does
not flip the new bit. At 10 it did: new links on CountMedium died within 50 steps."""
ANSWER_LOGIT = 3.0
"""The resampled bit's readout entry for its output: true, but below a settled answer's."""
ANY = -1
"""A :class:`Resample`'s ``token`` or ``source`` when every token sets the bit, or every bit."""
LATCH = 0
"""The lag of a latch: the token was read at any step before (a delay line's lag is at least 1)."""
LATCH_BITS = 2
"""Bits a latch takes. RememberHard's 64 cards need 128 of the 160, while a fresh model has only
about 100 bits that no bit sets: the tail of the init (off-diagonal entries ``N(-8, 2)``) sets
each bit from some other with odds of about 29%, from bits that are themselves never true. So
where latches are grown, a bit counts as dormant unless a bit in use (true on the batch or in
``x0``) sets it, directly or through other bits; a chain of rare bits, such as Count's top
counts, is still in use."""


@dataclass(frozen=True)
class Resample:
    """One rewired bit: ``bit`` turns on when ``token`` is read while ``source`` is on, and
    names the output ``output``."""

    step: int
    output: int
    token: int
    source: int
    bit: int


@dataclass(frozen=True)
class _BatchView:
    """The thresholded automaton's run on a batch (``act``, ``mask`` ``(B, T)``): which bits
    are true after (``on``) and before (``before``) each position ``(B, T, D)``, which outputs
    fire and which is the target ``(B, T, V)``, and the dormant bits (never true on it, not in
    ``x0``, and no other bit sets them: a bit of a card that this batch happens to lack is in
    use)."""

    act: Tensor
    mask: Tensor
    on: Tensor
    before: Tensor
    fired: Tensor
    is_target: Tensor
    dormant: list[int]


def _look(
    model: BooleanRNN, act: Tensor, target: Tensor, mask: Tensor, reach: bool = False
) -> _BatchView:
    """Run the thresholded automaton of ``model`` (:class:`agents.extract.Automaton`) on the
    batch: what the resampling mends is what the automaton gets wrong, not what the soft model
    gets right by magnitudes. With ``reach``, a bit that no bit sets counts as dormant only if
    no bit in use sets it, directly or through other bits (see :data:`LATCH_BITS`)."""
    automaton = Automaton.from_model(model)
    trace = automaton.run(act.cpu().numpy())
    ids = torch.as_tensor(trace.state_ids, device=act.device)
    on = torch.as_tensor(trace.states, device=act.device)[ids]
    fired = torch.as_tensor(automaton.fires(trace.states), device=act.device)[ids]
    start = on.new_tensor(automaton.x0)
    before = torch.cat([start.expand(len(act), 1, -1), on[:, :-1]], dim=1)
    others = ~np.eye(len(automaton.x0), dtype=bool)
    feeds = on.new_tensor((automaton.A & others).any(axis=0))  # (D, D): [to, from]
    in_use = on[mask].any(0) | start
    fed = feeds.any(1) if not reach else _reached(feeds, in_use)
    dormant = torch.nonzero(~(in_use | fed)).flatten().tolist()
    is_target = F.one_hot(target, len(automaton.C)).bool()
    return _BatchView(act, mask, on, before, fired, is_target, dormant)


def _reached(feeds: Tensor, sources: Tensor) -> Tensor:
    """Bool ``(D,)``: the bits that the ``sources`` set, directly or through other bits
    (``feeds`` ``(D, D)``: bit ``[to, from]`` is set by bit ``from`` on some token)."""
    reached = sources
    while True:
        grown = reached | feeds[:, reached].any(1)
        if bool((grown == reached).all()):
            return reached
        reached = grown


@dataclass
class _Rewirer:
    """Rewires bits of ``model`` (clearing their Adam moments), draws its choices from
    ``generator`` and records what it did."""

    model: BooleanRNN
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    step: int
    done: list[Resample] = field(default_factory=list)

    def pick(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.generator))

    def rewire(
        self,
        bit: int,
        token: int,
        source: int,
        output: int,
        names: bool = True,
        keep: Tensor | None = None,
        clear_moments: bool = True,
    ) -> None:
        """Make ``bit`` "``token`` read while ``source`` is true; kept by the tokens ``keep``
        says (default all); feeds no other bit; names ``output`` (if ``names``)", clear Adam's
        moments of the entries it changed (if ``clear_moments``), and record it for ``output``.
        ``token`` :data:`ANY` means every token, ``source`` :data:`ANY` every bit."""
        model, m = self.model, RESAMPLE_MARGIN
        tokens = slice(None) if token == ANY else token
        sources = slice(None) if source == ANY else source
        with torch.no_grad():
            model.A[:, bit, :] = -m
            model.A[:, :, bit] = -m
            model.A[:, bit, bit] = m if keep is None else torch.where(keep, m, -m)
            model.A[tokens, bit, sources] = m
            model.C[:, bit] = -m
            if names:
                model.C[output, bit] = ANSWER_LOGIT
        if clear_moments:
            for param, index in (
                (model.A, (slice(None), bit)),
                (model.A, (Ellipsis, bit)),
                (model.C, (Ellipsis, bit)),
            ):
                for moment in self.optimizer.state.get(param, {}).values():
                    if torch.is_tensor(moment) and moment.shape == param.shape:
                        moment[index] = 0
        self.done.append(Resample(self.step, output, token, source, bit))


def resample_dormant_bits(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    act: Tensor,
    target: Tensor,
    mask: Tensor,
    generator: torch.Generator,
    step: int = 0,
    successors: bool = False,
    delays: bool = False,
    latches: bool = False,
) -> list[Resample]:
    """Rewire one dormant bit for each output the automaton over-shares on the batch and, with
    ``successors``, ``delays`` or ``latches``, then answer, successor, delay-line or latch bits
    for each output it misses, round by round (see the module doc); the rewirings done (none
    when nothing is over-shared or missed, or no bit is dormant)."""
    rewirer = _Rewirer(model, optimizer, generator, step)
    _answer_bits(rewirer, _look(model, act, target, mask, reach=latches))
    if successors or delays or latches:
        _successor_bits(
            rewirer,
            lambda: _look(model, act, target, mask, reach=latches),
            _Rules(successors, delays, latches),
        )
    return rewirer.done


def _answer_bits(rewirer: _Rewirer, view: _BatchView) -> None:
    act, mask, before, dormant = view.act, view.mask, view.before, view.dormant
    over_shared = torch.nonzero((view.fired & ~view.is_target)[mask].any(0)).flatten().tolist()
    for output in over_shared:
        if not dormant:
            break
        named = view.is_target[..., output] & mask
        positions = torch.nonzero(named & view.fired[..., output])
        if len(positions) == 0:
            positions = torch.nonzero(named)
            if len(positions) == 0:
                continue
        b, t = positions[rewirer.pick(len(positions))].tolist()
        token = int(act[b, t])
        source = _evidence_bit(before, act == token, mask, named, before[b, t])
        if source is None:
            continue
        rewirer.rewire(dormant.pop(rewirer.pick(len(dormant))), token, source, output)


@dataclass(frozen=True)
class _Rules:
    """Which of the rules for missed outputs apply (see the module doc)."""

    successors: bool
    delays: bool
    latches: bool


def _successor_bits(rewirer: _Rewirer, look: Callable[[], _BatchView], rules: _Rules) -> None:
    """Round after round on the rewired model (``look`` runs it on the batch), give each missed
    output an answer bit, or else a delay line or latch or a successor bit (as ``rules`` allow),
    until a round rewires nothing."""
    links: set[tuple[int, ...]] = set()
    while _grow(rewirer, look(), links, rules):
        pass


def _line_evidence(
    act: Tensor, mask: Tensor, named: Tensor, b: int, t: int, rules: _Rules
) -> tuple[int, int] | None:
    """The (token, lag) such that reading the token ``lag`` steps before the token read at
    ``(b, t)`` (for a latch, lag :data:`LATCH`: at any step before) always means the output is
    the target there (``named`` ``(B, T)``), on the batch and most often so: a delay line if
    ``rules.delays`` allow one, else a latch if ``rules.latches`` do; None if there is no such
    pair, or if the token read at ``(b, t)`` alone already tells."""
    asked = (act == act[b, t]) & mask
    if bool(named[asked].all()):
        return None
    line = _most_support(_delay_reads(act, mask, asked, b, t), named) if rules.delays else None
    if line is None and rules.latches:
        line = _most_support(_latch_reads(act, mask, asked, b, t), named)
    return line


def _delay_reads(
    act: Tensor, mask: Tensor, asked: Tensor, b: int, t: int
) -> Iterator[tuple[tuple[int, int], Tensor]]:
    """For each lag up to ``t``: ``(token, lag)`` for the token read ``lag`` steps before
    ``(b, t)``, and where (bool ``(B, T)``) the ``asked`` token is read ``lag`` steps after it."""
    for lag in range(1, t + 1):
        token = int(act[b, t - lag])
        yield (token, lag), _later((act == token) & mask, lag) & asked


def _latch_reads(
    act: Tensor, mask: Tensor, asked: Tensor, b: int, t: int
) -> Iterator[tuple[tuple[int, int], Tensor]]:
    """For each token read before ``(b, t)``: ``(token, LATCH)``, and where (bool ``(B, T)``)
    the ``asked`` token is read at any step after it."""
    for token in torch.unique(act[b, :t]).tolist():
        read = ((act == token) & mask).cumsum(1) > 0  # read at or before each position
        yield (token, LATCH), _later(read, 1) & asked


def _later(x: Tensor, lag: int) -> Tensor:
    """``x`` ``(B, T)`` moved ``lag`` positions later along T, false where nothing moved in."""
    moved = torch.zeros_like(x)
    moved[:, lag:] = x[:, :-lag]
    return moved


def _most_support(
    candidates: Iterator[tuple[tuple[int, int], Tensor]], named: Tensor
) -> tuple[int, int] | None:
    """Of the candidate lines and where they would fire, the first of those that fire most
    often among the ones that fire only where the output is the target; None if none does."""
    best, best_support = None, 0
    for line, reads in candidates:
        support = int(reads.sum())
        if support > best_support and bool(named[reads].all()):
            best, best_support = line, support
    return best


def _grow(rewirer: _Rewirer, view: _BatchView, links: set[tuple[int, ...]], rules: _Rules) -> bool:
    """One round of :func:`_successor_bits`; whether it rewired a bit. ``links`` holds the
    (token, source) pairs and the (token, lag, asked token) delay lines and latches rewired so
    far, none of which is rewired twice."""
    act, mask, on, before = view.act, view.mask, view.on, view.before
    rewired = {r.bit for r in rewirer.done}
    dormant = [bit for bit in view.dormant if bit not in rewired]
    missed = view.is_target & ~view.fired & mask.unsqueeze(-1)
    lossy = (before & ~on).any(-1) & ~(on & ~before).any(-1) & mask
    keeps = rewirer.model.A.detach().diagonal(dim1=1, dim2=2) > 0  # (V_act, D): i keeps d
    grown = False
    for output in torch.nonzero(missed.any((0, 1))).flatten().tolist():
        if not dormant:
            break
        positions = torch.nonzero(missed[..., output])
        b, t = positions[rewirer.pick(len(positions))].tolist()
        token = int(act[b, t])
        named = view.is_target[..., output] & mask
        source = _evidence_bit(before, act == token, mask, named, before[b, t])
        if source is None and (rules.delays or rules.latches):
            line = _line_evidence(act, mask, named, b, t, rules)
            if line is None or (*line, token) in links:
                continue
            bits = LATCH_BITS if line[1] == LATCH else line[1] + 1
            if len(dormant) < bits:
                continue
            links.add((*line, token))
            _delay_line(
                rewirer,
                [dormant.pop(rewirer.pick(len(dormant))) for _ in range(bits)],
                *line,
                token,
                output,
            )
            grown = True
            continue
        names = source is not None
        if not names:  # the state no longer tells: grow a successor of the bit lost last
            drops = torch.nonzero(lossy[b, :t]).flatten()
            if not rules.successors or len(drops) == 0:
                continue
            p = int(drops[-1])
            token, source = int(act[b, p]), int(torch.nonzero(before[b, p] & ~on[b, p])[0])
        if (token, source) in links:
            continue
        links.add((token, source))
        bit = dormant.pop(rewirer.pick(len(dormant)))
        rewirer.rewire(bit, token, source, output, names, keep=None if names else keeps[:, source])
        grown = True
    return grown


def _delay_line(
    rewirer: _Rewirer, bits: list[int], token: int, lag: int, asked: int, output: int
) -> None:
    """Rewire ``bits`` (``lag + 1`` of them) as a delay line: the first is "``token`` was just
    read", each next one "the previous one was true a step ago", and the last "``asked`` read
    while the one before was true", which names ``output`` and is kept. A latch (``lag``
    :data:`LATCH`, two bits) is the same, but its first bit is "``token`` was read" and kept
    by every token. Adam's moments are kept: cleared, two of three delay lines on RepeatMedium
    died within 3,000 steps."""
    only = F.one_hot(torch.tensor(token), len(rewirer.model.A)).bool()
    keep = None if lag == LATCH else only
    rewirer.rewire(bits[0], token, ANY, output, names=False, keep=keep, clear_moments=False)
    for previous, bit in itertools.pairwise(bits[:-1]):
        rewirer.rewire(
            bit,
            ANY,
            previous,
            output,
            names=False,
            keep=torch.zeros_like(only),
            clear_moments=False,
        )
    rewirer.rewire(bits[-1], asked, bits[-2], output, clear_moments=False)


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
