"""Dormant-bit resampling: grow the state bits gradient descent cannot recruit.

An unused state bit is false everywhere, so every path through it carries a weight near
``e^-8`` and gets no gradient: a boolean RNN that lacks a bit (an answer bit, the next count of
a counter, a card held for ``lag`` steps or since the start) cannot grow it by gradient alone.
Like resampling dead neurons in sparse autoencoders, :func:`resample_dormant_bits` rewires such
bits directly from the mistakes of the thresholded automaton (:mod:`agents.extract`) on a batch:

- A bit is *dormant* when no bit in use (true on the batch or in ``x0``) sets it, directly or
  through other bits.
- An output is *over-shared* when it fires at a position whose target it is not. It gets an
  answer bit "token ``a`` read while bit ``k`` is true", where ``k`` is the bit that, true
  before ``a``, always means the output on the batch, and most often so.
- An output is *missed* when it is the target and does not fire. Round after round on the
  rewired model, until a round rewires nothing, each missed output gets the first growth of
  :data:`RULES` its evidence allows: an answer bit (a bit tells), a delay line (the token read
  a fixed number of steps before tells), a latch (a token read at any step before tells), or
  a retargeted transition (nothing tells: the states must be split or merged, as RPNI splits
  and merges the states of a prefix tree; a counter's next count is a split of the bit it
  lost, a parity a merge back into the start). Each rule is a function of the same signature,
  :data:`Rule`. No link is grown twice in one call.
- If outputs are still missed, the states may tell the answers while no OR of bits can name
  one (an answer that is the absence of a bit): the model is re-encoded as the minimal machine
  of its own automaton, one bit per state (:mod:`agents.reencode`), and the rounds run again.
- If outputs are still missed, the model's states do not hold what the answers need and no
  growth of one bit finds it (a random Moore machine, Tomita 6): the model is rewritten as the
  Moore machine that RPNI's state merging learns from the batch (:mod:`agents.merge`), or
  from the first of the ``merge_batches`` it is given that merges into a machine within the
  model's bits (the training loop adds ever more episodes of every length,
  :class:`agents.train.MergeLadder`).

New entries have magnitude :data:`RESAMPLE_MARGIN`, so hardening's row noise does not flip
them; useless bits are turned off again by training. What each rule did on which task is in
docs/results-notes.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from agents.automaton import packed_rows
from agents.extract import Automaton
from agents.model import BooleanRNN
from agents.reencode import merged_reencode, one_hot_reencode, zero_moments

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
"""Bits a latch takes."""
RETARGET = "retarget"
"""The first item of a :func:`retarget` growth's link: it changes transitions of bits in use,
so a round ends after it."""
REENCODED = -1
"""The ``output`` of a :class:`Resample` that holds a class of the re-encoded automaton
(:func:`agents.reencode.one_hot_reencode`)."""
MERGED = -2
"""The ``output`` of a :class:`Resample` that holds a state of the machine merged from the
batch (:func:`agents.reencode.merged_reencode`)."""


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
    fire and which is the target ``(B, T, V)``, the bits in use (true on the batch or in
    ``x0``, bool ``(D,)``) and the dormant bits (no bit in use sets them, directly or through
    other bits: a bit of a card that this batch happens to lack is in use)."""

    act: Tensor
    mask: Tensor
    on: Tensor
    before: Tensor
    fired: Tensor
    is_target: Tensor
    dormant: list[int]
    automaton: Automaton
    target: Tensor
    in_use: Tensor


def _look(model: BooleanRNN, act: Tensor, target: Tensor, mask: Tensor) -> _BatchView:
    """Run the thresholded automaton of ``model`` (:class:`agents.extract.Automaton`) on the
    batch: what the resampling mends is what the automaton gets wrong, not what the soft model
    gets right by magnitudes. A bit is dormant when no bit in use (true on the batch or in
    ``x0``) sets it, directly or through other bits."""
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
    dormant = torch.nonzero(~_reached(feeds, in_use)).flatten().tolist()
    is_target = F.one_hot(target, len(automaton.C)).bool()
    return _BatchView(act, mask, on, before, fired, is_target, dormant, automaton, target, in_use)


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

    def answer(self, bit: int, token: int, source: int, output: int) -> None:
        """Make ``bit`` an answer bit: "``token`` read while ``source`` is true", kept by no
        token (true for the one step after the token: a Moore output of that step), naming
        ``output``."""
        keep = torch.zeros(len(self.model.A), dtype=torch.bool, device=self.model.A.device)
        self.rewire(bit, token, source, output, keep=keep)

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
                zero_moments(self.optimizer, param, index)
        self.done.append(Resample(self.step, output, token, source, bit))


def resample_dormant_bits(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    act: Tensor,
    target: Tensor,
    mask: Tensor,
    generator: torch.Generator,
    step: int = 0,
    merge_batches: Iterable[tuple[Tensor, Tensor, Tensor]] | None = None,
) -> list[Resample]:
    """Rewire one dormant bit for each output the automaton over-shares on the batch (``act``,
    ``target``, ``mask`` ``(B, T)``), then, round by round, give each output it misses the
    first growth of :data:`RULES` that the evidence allows (see the module doc); the state
    merging reads ``merge_batches`` in turn (``act``, ``target``, ``mask`` each; default the
    batch), until one merges into a machine within the bits. Returns
    the rewirings done (none when nothing is over-shared or missed, or no bit is dormant)."""
    rewirer = _Rewirer(model, optimizer, generator, step)
    _answer_bits(rewirer, _look(model, act, target, mask))
    links: set[tuple[object, ...]] = set()
    view = _grow_while_it_helps(rewirer, act, target, mask, links)
    if _missed(view):
        bits = one_hot_reencode(model, optimizer, act, target, mask, RESAMPLE_MARGIN)
        rewirer.done += [Resample(step, REENCODED, ANY, ANY, bit) for bit in bits]
        if bits:
            view = _grow_while_it_helps(rewirer, act, target, mask, links)
    if _missed(view):
        batches = merge_batches if merge_batches is not None else [(act, target, mask)]
        bits = merged_reencode(model, optimizer, batches, RESAMPLE_MARGIN)
        rewirer.done += [Resample(step, MERGED, ANY, ANY, bit) for bit in bits]
    return rewirer.done


def _missed(view: _BatchView) -> bool:
    """Whether the automaton misses an output on the batch."""
    return _misses(view) > 0


def _misses(view: _BatchView) -> int:
    """How many outputs the automaton misses on the batch (positions times outputs)."""
    return int((view.is_target & ~view.fired)[view.mask].sum())


GROWTH_PATIENCE = 3
"""Rounds of growth in a row that may leave the automaton missing no fewer outputs on the
batch than its best so far before :func:`_grow_while_it_helps` stops: a split names nothing
until a later round names it. On AutomatonHard (a random machine, 272 bits, 270 dormant) the
rounds went on one link at a time, up to 130 s each, and the third left 80 times more misses;
what mends a random machine is the merge, after the growth."""


def _grow_while_it_helps(
    rewirer: _Rewirer,
    act: Tensor,
    target: Tensor,
    mask: Tensor,
    links: set[tuple[object, ...]],
) -> _BatchView:
    """Grow round by round (:func:`_grow`) until a round grows nothing or
    :data:`GROWTH_PATIENCE` rounds in a row miss no fewer outputs than the best round; the
    view of the batch after the last round."""
    view = _look(rewirer.model, act, target, mask)
    best, stalled = _misses(view), 0
    while stalled < GROWTH_PATIENCE and _grow(rewirer, view, links):
        view = _look(rewirer.model, act, target, mask)
        misses = _misses(view)
        stalled = 0 if misses < best else stalled + 1
        best = min(best, misses)
    return view


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
        evidence = _evidence_bit(before, act == token, mask, named, before[b, t])
        if evidence is None:
            continue
        rewirer.answer(dormant.pop(rewirer.pick(len(dormant))), token, evidence[0], output)


@dataclass(frozen=True)
class Miss:
    """A missed output at ``(b, t)`` of a batch view: what every growth rule looks at.
    ``named`` (bool ``(B, T)``): where ``output`` is the target on the batch."""

    view: _BatchView
    output: int
    b: int
    t: int
    named: Tensor

    @property
    def token(self) -> int:
        """The token read at the miss."""
        return int(self.view.act[self.b, self.t])


@dataclass(frozen=True)
class Growth:
    """What a rule would grow: ``bits`` dormant bits, never twice for the same ``link``, by
    ``wire(rewirer, bits)``; ``support``: on how many positions of the batch its evidence
    holds (0 for a rule without exact evidence)."""

    link: tuple[object, ...]
    bits: int
    wire: Callable[[_Rewirer, list[int]], None]
    support: int


Rule = Callable[[Miss], Growth | None]
"""A growth rule: from a missed output, the growth its evidence asks for, or None."""


def answer_bit(miss: Miss) -> Growth | None:
    """A bit true before the token always means the output there: an answer bit
    "the token read while that bit is true", which names the output."""
    view, token = miss.view, miss.token
    evidence = _evidence_bit(
        view.before, view.act == token, view.mask, miss.named, view.before[miss.b, miss.t]
    )
    if evidence is None:
        return None
    source, support = evidence
    return Growth(
        (token, source), 1, lambda r, bits: r.answer(bits[0], token, source, miss.output), support
    )


def delay_line(miss: Miss) -> Growth | None:
    """The token read a fixed number of steps before always means the output: a delay line
    (:func:`_delay_line`, ``lag + 1`` bits)."""
    line = _line_evidence(miss, _delay_reads)
    if line is None:
        return None
    (token, lag), support = line
    return _line_growth(miss, token, lag, lag + 1, support)


def latch(miss: Miss) -> Growth | None:
    """The token read at any step before always means the output: a latch (two bits)."""
    line = _line_evidence(miss, _latch_reads)
    if line is None:
        return None
    (token, lag), support = line
    return _line_growth(miss, token, lag, LATCH_BITS, support)


def retarget(miss: Miss) -> Growth | None:
    """Nothing tells the output any more: the state must be split or merged. Retarget one
    transition "bit ``k`` on token ``c``" of the episode before the miss, so that ``c`` clears
    ``k`` and sets either a bit in use (a *merge*, no new bit, as RPNI merges states) or a new
    bit (a *split*, kept by each token as ``k`` is, except ``c``, and naming nothing).

    Only state bits take part (bits some token keeps; an answer bit holds for one step). The
    transition is the last lossy one before the miss (a state bit dropped, none set: the
    successor of a counter), merged or split; else any that keeps its bit on the batch (a
    state that does not move where the answers say it should), split.
    Each candidate is run on the batch, and scored by how many positions the best readout of
    the resulting states could get right (:func:`_consistency`); the best wins, a merge among
    equals, and it must beat the automaton as it is unless it mends a lossy transition."""
    view, b, t = miss.view, miss.b, miss.t
    kept = view.automaton.A.diagonal(axis1=1, axis2=2).any(0)  # answer bits: kept by none
    state = torch.as_tensor(kept, device=view.on.device)
    before, on = view.before[b, :t] & state, view.on[b, :t] & state
    valid = view.mask[b, :t]
    lossy = (before & ~on).any(-1) & ~(on & ~before).any(-1) & valid
    drops = torch.nonzero(lossy).flatten()
    if len(drops):
        p = int(drops[-1])
        transitions = {(int(view.act[b, p]), int(torch.nonzero(before[p] & ~on[p])[0])): (b, p)}
    else:  # every (token, bit) that a token keeps anywhere on the batch
        held = view.before & view.on & state & view.mask.unsqueeze(-1)
        transitions = {}
        for eb, et, k in torch.nonzero(held).tolist():
            transitions.setdefault((int(view.act[eb, et]), k), (eb, et))
    if not transitions:
        return None
    scorer = _Scorer(view)
    in_use = torch.nonzero(view.in_use & state).flatten().tolist()
    best, best_score = None, -1 if len(drops) else scorer.score(view.automaton)
    for (token, source), where in sorted(transitions.items()):
        # None: a new bit. A lost bit may merge (not into a bit the transition sets already,
        # which changes nothing); a kept one is only split (fewer candidates to run)
        merges = [j for j in in_use if j != source and not view.on[where][j]]
        for into in [*(merges if len(drops) else []), None]:
            score = scorer.score(_retargeted(view.automaton, token, source, into, view.dormant))
            if score > best_score:
                best, best_score = (token, source, into), score
    if best is None:
        return None
    token, source, into = best

    def wire(rewirer: _Rewirer, bits: list[int]) -> None:
        A = rewirer.model.A
        if into is None:
            keeps = A.detach()[:, source, source] > 0
            keeps[token] = False
            rewirer.rewire(bits[0], token, source, miss.output, names=False, keep=keeps)
        else:
            with torch.no_grad():
                A[token, into, source] = RESAMPLE_MARGIN
            rewirer.done.append(Resample(rewirer.step, miss.output, token, source, into))
        with torch.no_grad():
            A[token, source, source] = -RESAMPLE_MARGIN

    return Growth((RETARGET, token, source), int(into is None), wire, support=0)


def _retargeted(
    automaton: Automaton, token: int, source: int, into: int | None, dormant: list[int]
) -> Automaton:
    """``automaton`` with ``token`` clearing ``source`` and setting ``into`` (None: a new bit,
    the first ``dormant`` one, wired as :func:`retarget` wires it), for scoring."""
    A, C = automaton.A.copy(), automaton.C.copy()
    if into is None:
        if not dormant:
            return automaton
        into = dormant[0]
        keeps = A[:, source, source].copy()
        keeps[token] = False
        A[:, into, :] = False
        A[:, :, into] = False
        A[:, into, into] = keeps
        C[:, into] = False
    A[token, into, source] = True
    A[token, source, source] = False
    return Automaton(A, C, automaton.x0)


@dataclass
class _Scorer:
    """Scores automata on a batch view's episodes (at most :data:`SCORE_EPISODES` of them) by
    :func:`_consistency`."""

    view: _BatchView

    def __post_init__(self) -> None:
        n, view = SCORE_EPISODES, self.view
        self.act = view.act[:n].cpu().numpy()
        self.target = view.target[:n].cpu().numpy()
        self.mask = view.mask[:n].cpu().numpy()
        self.misfired = (view.fired & ~view.is_target)[:n].any(-1).cpu().numpy()

    def score(self, automaton: Automaton) -> int:
        return _consistency(automaton, self.act, self.target, self.mask, self.misfired)


SCORE_EPISODES = 512
"""Episodes of the resampling batch on which :func:`retarget` scores its candidates."""


def _consistency(
    automaton: Automaton,
    act: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    misfired: np.ndarray,
) -> int:
    """How many valid positions of the episodes (``act``, ``target``, ``mask`` ``(B, T)``) the
    best answer bits of ``automaton`` could name right: per pair (state before the position,
    token read there), the count of its most frequent target (an answer bit "the token read
    while the state holds" names one output per pair), leaving out the positions where a bit
    of ``automaton`` names a wrong output that it did not name before (``misfired``, bool
    ``(B, T)``): the readout stays. Each step, each distinct state of the batch steps on every
    token by one boolean matrix product (:meth:`Automaton.successors`)."""
    x = np.repeat(automaton.x0[None], len(act), axis=0)
    states = [x]
    for t in range(act.shape[1]):  # each distinct state steps once, on every token
        first, which = np.unique(packed_rows(x), return_index=True, return_inverse=True)[1:]
        x = automaton.successors(x[first])[which.reshape(-1), act[:, t]]
        states.append(x)
    visited = np.stack(states, 1)  # (B, T + 1, D): the start, then after each position
    rows = visited.reshape(-1, visited.shape[-1])
    first, ids = np.unique(packed_rows(rows), return_index=True, return_inverse=True)[1:]
    ids = ids.reshape(visited.shape[:2])
    fires = automaton.fires(rows[first])[ids[:, 1:]]
    fires[np.arange(len(act))[:, None], np.arange(act.shape[1]), target] = False
    scored = mask & ~(fires.any(-1) & ~misfired)
    pairs = ids[:, :-1][scored] * len(automaton.A) + act[scored]
    outputs = len(automaton.C)
    cells = len(first) * len(automaton.A) * outputs
    counts = np.bincount(pairs * outputs + target[scored], minlength=cells)
    return int(counts.reshape(-1, outputs).max(1).sum())


RULES: tuple[Rule, ...] = (answer_bit, delay_line, latch, retarget)
"""The growth rules. For a miss, the growth with the most support wins, the first in this
order among equals: exact evidence (a bit, a token at a fixed lag, a token at any lag) before
the retargeted transition, which has none (its support is 0)."""


def _grow(rewirer: _Rewirer, view: _BatchView, links: set[tuple[object, ...]]) -> bool:
    """One round: for each missed output, at a random position where it is missed, grow what
    the rule with the most support asks for (:data:`RULES`), if its link is new and it fits the
    dormant bits left; whether anything was rewired."""
    rewired = {r.bit for r in rewirer.done}
    dormant = [bit for bit in view.dormant if bit not in rewired]
    missed = view.is_target & ~view.fired & view.mask.unsqueeze(-1)
    grown = False
    for output in torch.nonzero(missed.any((0, 1))).flatten().tolist():
        positions = torch.nonzero(missed[..., output])
        b, t = positions[rewirer.pick(len(positions))].tolist()
        miss = Miss(view, output, b, t, view.is_target[..., output] & view.mask)
        growths = [growth for rule in RULES if (growth := rule(miss)) is not None]
        if not growths:
            continue
        growth = max(growths, key=lambda g: g.support)  # the first among equals
        if growth.link not in links and growth.bits <= len(dormant):
            links.add(growth.link)
            growth.wire(
                rewirer, [dormant.pop(rewirer.pick(len(dormant))) for _ in range(growth.bits)]
            )
            grown = True
            if growth.link[0] == RETARGET:  # the view is stale: look again
                break
    return grown


def _line_growth(miss: Miss, token: int, lag: int, bits: int, support: int) -> Growth:
    asked, output = miss.token, miss.output
    return Growth(
        (token, lag, asked),
        bits,
        lambda r, wired: _delay_line(r, wired, token, lag, asked, output),
        support,
    )


def _line_evidence(
    miss: Miss, reads: Callable[..., Iterator[tuple[tuple[int, int], Tensor]]]
) -> tuple[tuple[int, int], int] | None:
    """The (token, lag) of ``reads`` (:func:`_delay_reads` or :func:`_latch_reads`) such that
    reading the token that many steps before the token read at the miss always means the output
    is the target there on the batch, and most often so, with that support; None if there is no
    such pair, or if the token read at the miss alone already tells."""
    act, mask, named, b, t = miss.view.act, miss.view.mask, miss.named, miss.b, miss.t
    asked = (act == act[b, t]) & mask
    if bool(named[asked].all()):
        return None
    return _most_support(reads(act, mask, asked, b, t), named)


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
) -> tuple[tuple[int, int], int] | None:
    """Of the candidate lines and where they would fire, the first of those that fire most
    often among the ones that fire only where the output is the target, and how often; None if
    none does."""
    best, best_support = None, 0
    for line, reads in candidates:
        support = int(reads.sum())
        if support > best_support and bool(named[reads].all()):
            best, best_support = line, support
    return None if best is None else (best, best_support)


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
) -> tuple[int, int] | None:
    """Among the ``candidates`` (bool ``(D,)``), the bit that, true before the token is read,
    always means the output is the target on this batch, and most often so, and how often;
    None if none does.
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
    bit = int(torch.where(exact, support, -1.0).argmax())
    return bit, int(support[bit])
