"""Dormant-bit resampling: a hand-built Remember automaton with the answer shortcut, and a
hand-built counter that stops short."""

from __future__ import annotations

import numpy as np
import torch

import agents.resample
from agents.extract import Automaton, verify
from agents.model import BooleanRNN
from agents.resample import (
    ANSWER_LOGIT,
    ANY,
    GROWTH_PATIENCE,
    LATCH_BITS,
    RESAMPLE_MARGIN,
    RULES,
    Growth,
    Miss,
    _consistency,
    _look,
    resample_dormant_bits,
)
from memgym import batch_rollouts
from tests.agents.handbuilt import (
    FALSE,
    TRUE,
    count_model,
    forgetful_model,
    remember_model,
    still_model,
)

CARDS = 2
ENV = "memgym/Remember-v0"
KWARGS = {"num_cards": CARDS, "n_range": (2, 4)}
HOLD, ANSWER = 1, 1 + CARDS  # first bits of the hand-built model's groups
ASK = CARDS + 1  # act token


def padded_remember_model(spare_bits):
    """The hand-built Remember model with ``spare_bits`` more bits, false and unconnected."""
    exact = remember_model(CARDS)
    D = exact.state_dim
    model = BooleanRNN(exact.num_act_tokens, exact.num_obs_tokens, D + spare_bits).eval()
    with torch.no_grad():
        model.A.fill_(FALSE)
        model.A[:, :D, :D] = exact.A
        model.C.fill_(FALSE)
        model.C[:, :D] = exact.C
        model.x0.fill_(FALSE)
        model.x0[:D] = exact.x0
    return model


def shortcut_model():
    """The hand-built model with one more bit, "not asked yet", that alone names ``[wait]``; the
    hold bits stay on at ``[ask]`` and name their card directly, so the answer bits are never
    used and each card output also fires at every ``[wait]`` after its card."""
    model = padded_remember_model(1)
    D = model.state_dim - 1
    with torch.no_grad():
        model.C[0] = FALSE
        model.C[0, D] = TRUE
        model.x0[D] = TRUE
        for token in range(model.num_act_tokens):
            model.A[token, D, D] = FALSE if token == ASK else TRUE
        for i in range(CARDS):
            model.A[ASK, ANSWER + i, HOLD + i] = FALSE
            model.A[ASK, HOLD + i, HOLD + i] = TRUE
            model.C[2 + i, HOLD + i] = TRUE
    return model


def batch(env=ENV, seed=0, episodes=64, **kwargs):
    rollouts = batch_rollouts(env, episodes, seed=seed, **(kwargs or KWARGS))
    return tuple(torch.as_tensor(a) for a in (rollouts.act, rollouts.target, rollouts.mask))


def optimizer_with_state(model):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(batch()[0]).sum().backward()
    optimizer.step()
    return optimizer


def test_each_over_shared_output_gets_a_dormant_bit_from_ask_and_its_hold_bit():
    model = shortcut_model()
    optimizer = optimizer_with_state(model)
    with torch.no_grad():  # undo the optimizer step: the exact shortcut automaton again
        model.load_state_dict(shortcut_model().state_dict())
    before = Automaton.from_model(model)
    assert not verify(before, ENV, KWARGS, random_episodes=100).verified

    done = resample_dormant_bits(model, optimizer, *batch(), torch.Generator().manual_seed(0), 7)

    assert sorted(r.output for r in done) == [2, 3]  # the two card outputs
    for r in done:
        assert (r.step, r.token, r.source) == (7, ASK, HOLD + r.output - 2)
        assert r.bit in range(ANSWER, ANSWER + CARDS + 1)  # the answer or done bits
        A, C = model.A.detach(), model.C.detach()
        assert A[r.token, r.bit, r.source] == RESAMPLE_MARGIN
        assert (A[:, r.bit, r.bit] == -RESAMPLE_MARGIN).all()  # true for one step
        assert C[r.output, r.bit] == ANSWER_LOGIT and (C[:, r.bit] > 0).sum() == 1
        off = torch.ones_like(A[:, 0], dtype=torch.bool)
        off[:, r.bit] = False
        assert (A[:, :, r.bit][off] == -RESAMPLE_MARGIN).all()  # it feeds no other bit
        for moment in ("exp_avg", "exp_avg_sq"):
            assert (optimizer.state[model.A][moment][:, :, r.bit] == 0).all()
            assert (optimizer.state[model.C][moment][:, r.bit] == 0).all()
    assert len({r.bit for r in done}) == len(done)
    with torch.no_grad():  # what the sign loss then does: drop the shortcut
        model.C[2:, HOLD : HOLD + CARDS] = FALSE
    assert verify(Automaton.from_model(model), ENV, KWARGS, random_episodes=1000).verified


def test_the_resampler_sees_what_the_thresholded_automaton_does():
    torch.manual_seed(0)
    model = BooleanRNN(CARDS + 3, CARDS + 2, 12)  # random signs: a soft model far from boolean
    act, target, mask = batch()
    view = _look(model, act, target, mask)
    automaton = Automaton.from_model(model)
    for b in range(0, len(act), 7):
        x = automaton.x0
        for t, token in enumerate(act[b].tolist()):
            assert torch.equal(view.before[b, t], torch.as_tensor(x))
            x = automaton.step(x, token)
            assert torch.equal(view.on[b, t], torch.as_tensor(x))
            assert torch.equal(view.fired[b, t], torch.as_tensor((automaton.C & x).any(1)))


def test_an_exact_model_is_left_alone():
    model = remember_model(CARDS)
    optimizer = torch.optim.Adam(model.parameters())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert resample_dormant_bits(model, optimizer, *batch(), torch.Generator()) == []
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_the_generator_decides_the_choices():
    def run(seed):
        model = shortcut_model()
        generator = torch.Generator().manual_seed(seed)
        return resample_dormant_bits(
            model, torch.optim.Adam(model.parameters()), *batch(), generator
        )

    assert run(3) == run(3)
    assert any(run(0) != run(s) for s in range(1, 6))


def test_nothing_happens_without_a_dormant_bit():
    model = shortcut_model()
    with torch.no_grad():
        model.x0.fill_(TRUE)  # every bit is on at the start: none is dormant
    state = {k: v.clone() for k, v in model.state_dict().items()}
    done = resample_dormant_bits(
        model, torch.optim.Adam(model.parameters()), *batch(), torch.Generator()
    )
    assert done == [] and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_a_bit_another_bit_sets_is_in_use_even_where_the_batch_never_turns_it_on():
    act, target, mask = batch()
    card_0 = act[:, 0] == 0  # episodes of card 0 only: card 1's hold bit is never on
    for seed in range(20):
        model = shortcut_model()
        done = resample_dormant_bits(
            model,
            torch.optim.Adam(model.parameters()),
            act[card_0],
            target[card_0],
            mask[card_0],
            torch.Generator().manual_seed(seed),
        )
        assert done and HOLD + 1 not in {r.bit for r in done}


def test_a_bit_set_only_by_bits_not_in_use_is_dormant():
    model = padded_remember_model(3)
    D = model.state_dim - 3
    with torch.no_grad():
        model.A[ASK, D + 1, D] = TRUE  # spare bit D sets D + 1, which sets D + 2
        model.A[ASK, D + 2, D + 1] = TRUE
        model.A[ASK, HOLD, D + 2] = TRUE  # and D + 2 feeds a bit in use
    act, target, mask = batch()
    assert _look(model, act, target, mask).dormant == [D, D + 1, D + 2]
    with torch.no_grad():  # now a bit in use sets D, so the whole chain is in use
        model.A[ASK, D, HOLD] = TRUE
    assert _look(model, act, target, mask).dormant == []


def test_a_bit_that_is_not_exact_evidence_gets_no_answer_bit():
    model = shortcut_model()
    with torch.no_grad():  # card 1 now writes card 0's hold bit: no bit tells the cards apart
        model.A[1, HOLD + 1, 0] = FALSE
        model.A[1, HOLD, 0] = TRUE
    done = resample_dormant_bits(
        model, torch.optim.Adam(model.parameters()), *batch(), torch.Generator()
    )
    assert all(r.source != HOLD for r in done)  # latches of the cards instead
    assert (1, ANY) in {(r.token, r.source) for r in done}  # card 1, read at any step before


COUNT_ENV, COUNT_KWARGS = "memgym/Count-v0", {"n_range": (2, 4)}
ONE, ASK_COUNT = 1, 2  # act tokens of Count
COUNT_BIT = 1  # the hand-built counter's "count 0" bit; count k is COUNT_BIT + k


def test_a_counter_that_stops_short_grows_its_chain_round_by_round_until_it_verifies():
    model = count_model(4, max_count=2, spare_bits=4)  # counts 0-2; a third 1 clears the count
    optimizer = torch.optim.Adam(model.parameters())
    rollouts = batch(COUNT_ENV, **COUNT_KWARGS)
    keeps = model.A.detach().diagonal(dim1=1, dim2=2)[:, COUNT_BIT + 2] > 0

    done = resample_dormant_bits(model, optimizer, *rollouts, torch.Generator(), 5)

    # round 1: count 3 and count 4 were both lost at the third 1, one link for both; round 2:
    # count 3's answer bit, and the fourth 1 now clears count 3: its successor; round 3: count
    # 4's answer bit
    successor, answer, successor_2, answer_2 = done
    assert {r.step for r in done} == {5}
    assert (successor.output, successor.token, successor.source) == (2 + 3, ONE, COUNT_BIT + 2)
    A, C = model.A.detach(), model.C.detach()
    assert A[ONE, successor.bit, successor.source] == RESAMPLE_MARGIN
    assert torch.equal(A[:, successor.bit, successor.bit] > 0, keeps)  # kept as count 2 is
    assert (C[:, successor.bit] == -RESAMPLE_MARGIN).all()  # it names nothing
    assert (answer.output, answer.token, answer.source) == (2 + 3, ASK_COUNT, successor.bit)
    assert C[answer.output, answer.bit] == ANSWER_LOGIT
    assert (A[:, answer.bit, answer.bit] == -RESAMPLE_MARGIN).all()  # kept by no token
    assert [(r.output, r.token, r.source) for r in (successor_2, answer_2)] == [
        (2 + 4, ONE, successor.bit),
        (2 + 4, ASK_COUNT, successor_2.bit),
    ]
    assert len({r.bit for r in done}) == 4
    assert verify(Automaton.from_model(model), COUNT_ENV, COUNT_KWARGS).verified
    assert resample_dormant_bits(model, optimizer, *rollouts, torch.Generator(), 6) == []


def test_a_missed_answer_whose_count_the_state_still_holds_gets_an_answer_bit():
    model = count_model(4, spare_bits=1)
    answering_3 = COUNT_BIT + 5 + 3  # the "answering 3" bit, now never set: dormant too
    with torch.no_grad():
        model.A[ASK_COUNT, answering_3, COUNT_BIT + 3] = FALSE
    assert not verify(Automaton.from_model(model), COUNT_ENV, COUNT_KWARGS).verified

    (done,) = resample_dormant_bits(
        model,
        torch.optim.Adam(model.parameters()),
        *batch(COUNT_ENV, **COUNT_KWARGS),
        torch.Generator(),
    )

    assert (done.output, done.token, done.source) == (2 + 3, ASK_COUNT, COUNT_BIT + 3)
    assert model.C.detach()[done.output, done.bit] == ANSWER_LOGIT
    assert verify(Automaton.from_model(model), COUNT_ENV, COUNT_KWARGS).verified


def test_successors_leave_an_exact_counter_alone_and_stop_when_no_bit_is_dormant():
    for model in (count_model(4, spare_bits=4), count_model(4, max_count=2)):
        state = {k: v.clone() for k, v in model.state_dict().items()}
        done = resample_dormant_bits(
            model,
            torch.optim.Adam(model.parameters()),
            *batch(COUNT_ENV, **COUNT_KWARGS),
            torch.Generator(),
        )
        assert done == [] and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


REPEAT_ENV, REPEAT_KWARGS = "memgym/Repeat-v0", {"num_cards": 2, "lag": 2, "n_range": (3, 5)}
ASK_REPEAT = 2  # act token of Repeat with two cards


def test_a_model_that_forgets_every_card_grows_a_delay_line_per_card_and_then_verifies():
    lag = REPEAT_KWARGS["lag"]
    model = forgetful_model(2, spare_bits=2 * (lag + 1))
    rollouts = batch(REPEAT_ENV, **REPEAT_KWARGS)
    optimizer = torch.optim.Adam(model.parameters())
    model.train()(rollouts[0]).sum().backward()
    optimizer.step()
    moments = {k: v.clone() for k, v in optimizer.state[model.A].items()}

    done = resample_dormant_bits(model, optimizer, *rollouts, torch.Generator(), 3)

    A, C = model.A.detach(), model.C.detach()
    assert len(done) == 2 * (lag + 1) and len({r.bit for r in done}) == len(done)
    for card in range(2):
        first, *middle, answer = [r for r in done if r.output == 2 + card]
        assert (first.token, first.source) == (card, ANY)  # "card just read", from any bit
        assert A[card, first.bit, 0] == RESAMPLE_MARGIN  # from the waiting bit
        assert torch.equal(A[:, first.bit, first.bit] > 0, torch.arange(4) == card)
        chain = [first, *middle]
        assert [(r.token, r.source) for r in middle] == [(ANY, r.bit) for r in chain[:-1]]
        assert all((A[:, r.bit, r.bit] < 0).all() for r in middle)  # a step ago, then gone
        assert (answer.token, answer.source) == (ASK_REPEAT, chain[-1].bit)
        assert C[2 + card, answer.bit] == ANSWER_LOGIT
        assert all((C[:, r.bit] < 0).all() for r in chain)  # only the answer bit names it
    for key, moment in optimizer.state[model.A].items():  # delay lines keep Adam's moments
        assert torch.equal(moment, moments[key])
    assert verify(Automaton.from_model(model), REPEAT_ENV, REPEAT_KWARGS).verified
    assert resample_dormant_bits(model, optimizer, *rollouts, torch.Generator(), 4) == []


def test_a_model_that_forgets_the_first_card_grows_a_latch_per_card_and_then_verifies():
    kwargs = {"num_cards": 3, "n_range": (2, 6)}  # too many lags for one delay line per card
    model = forgetful_model(3, spare_bits=3 * LATCH_BITS + 1, remember=True)
    rollouts = batch(ENV, **kwargs)
    optimizer = torch.optim.Adam(model.parameters())

    done = resample_dormant_bits(model, optimizer, *rollouts, torch.Generator(), 5)

    A, C = model.A.detach(), model.C.detach()
    ask = 3 + 1
    assert len(done) == 3 * LATCH_BITS and len({r.bit for r in done}) == len(done)
    for card in range(3):
        latch, answer = [r for r in done if r.output == 2 + card]
        assert (latch.token, latch.source) == (card, ANY)  # "card read", from any bit
        assert (A[:, latch.bit, latch.bit] > 0).all()  # and kept by every token
        assert (C[:, latch.bit] < 0).all()
        assert (answer.token, answer.source) == (ask, latch.bit)
        assert C[2 + card, answer.bit] == ANSWER_LOGIT
    assert verify(Automaton.from_model(model), ENV, kwargs).verified
    assert resample_dormant_bits(model, optimizer, *rollouts, torch.Generator()) == []


def test_a_latch_is_not_grown_for_a_token_that_does_not_tell_the_answer():
    model = forgetful_model(2, spare_bits=4 * LATCH_BITS)
    rollouts = batch(REPEAT_ENV, **REPEAT_KWARGS)  # Repeat: every card is read before [ask]
    optimizer = torch.optim.Adam(model.parameters())

    done = resample_dormant_bits(model, optimizer, *rollouts, torch.Generator())

    assert len(done) == 2 * (REPEAT_KWARGS["lag"] + 1)  # a delay line per card, no latch
    firsts = [r for r in done if r.source == ANY]
    assert all((model.A.detach()[:, r.bit, r.bit] > 0).sum() == 1 for r in firsts)


def test_a_delay_line_is_not_grown_without_the_bits_for_all_of_it():
    model = forgetful_model(2, spare_bits=REPEAT_KWARGS["lag"])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rollouts = batch(REPEAT_ENV, **REPEAT_KWARGS)
    optimizer = torch.optim.Adam(model.parameters())

    assert resample_dormant_bits(model, optimizer, *rollouts, torch.Generator()) == []
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_the_rules_share_one_signature_and_evidence_picks_the_growth():
    model = forgetful_model(2, spare_bits=2 * (REPEAT_KWARGS["lag"] + 1))
    view = _look(model, *batch(REPEAT_ENV, **REPEAT_KWARGS))
    missed = view.is_target & ~view.fired & view.mask.unsqueeze(-1)
    output = 2  # card 0
    b, t = torch.nonzero(missed[..., output])[0].tolist()
    miss = Miss(view, output, b, t, view.is_target[..., output] & view.mask)
    growths = {rule.__name__: rule(miss) for rule in RULES}
    assert set(growths) == {"answer_bit", "delay_line", "latch", "retarget"}
    assert growths["answer_bit"] is None and growths["latch"] is None  # no bit, no fixed token
    line = growths["delay_line"]
    assert isinstance(line, Growth) and line.bits == REPEAT_KWARGS["lag"] + 1
    assert line.link == (0, REPEAT_KWARGS["lag"], ASK_REPEAT) and line.support > 0
    if growths["retarget"] is not None:
        assert growths["retarget"].support == 0  # no exact evidence: never beats the line


def resample_until_still(model, env, kwargs, calls=6):
    """Resample on fresh batches until a call rewires nothing; every rewiring done."""
    optimizer = torch.optim.Adam(model.parameters())
    done = []
    for seed in range(calls):
        act, target, mask = batch(env, seed=seed, episodes=256, **kwargs)
        step = resample_dormant_bits(model, optimizer, act, target, mask, torch.Generator(), seed)
        if not step:
            break
        done += step
    return done


def answer_of_state(model, env, kwargs, ask):
    """Whether the thresholded automaton's state before ``[ask]`` (act token ``ask``) determines
    the answer on fresh episodes, whatever its readout names (the readout is for training)."""
    act, target, mask = batch(env, seed=100, episodes=512, **kwargs)
    trace = Automaton.from_model(model).run(act.numpy())
    before = torch.cat([torch.zeros_like(act[:, :1]), torch.as_tensor(trace.state_ids)[:, :-1]], 1)
    asked = (act == ask) & mask
    answers = {}
    for state, answer in zip(before[asked].tolist(), target[asked].tolist(), strict=True):
        answers.setdefault(state, set()).add(answer)
    return all(len(a) == 1 for a in answers.values())


def test_a_state_that_never_moves_is_split_and_merged_into_a_parity_automaton():
    env, kwargs = "memgym/ModCount-v0", {"modulus": 2, "n_range": (4, 8)}
    model = still_model(4, 4, 16)
    assert not answer_of_state(model, env, kwargs, ASK_COUNT)

    done = resample_until_still(model, env, kwargs)

    # split: the first 1 clears the start bit and sets a new bit; merge: the next 1 sets the
    # start bit again, so two bits hold the parity of every length
    links = {(r.token, r.source, r.bit) for r in done}
    assert any((ONE, 0, bit) in links and (ONE, bit, 0) in links for bit in range(1, 16))
    assert answer_of_state(model, env, {**kwargs, "n_range": (4, 80)}, ASK_COUNT)


def test_a_counter_that_never_moves_grows_a_chain_not_a_cycle():
    model = still_model(4, 3 + 4, 24)  # Count with n up to 4: outputs [wait], [end], 0..4

    resample_until_still(model, COUNT_ENV, COUNT_KWARGS)

    assert answer_of_state(model, COUNT_ENV, COUNT_KWARGS, ASK_COUNT)


def reference_consistency(automaton, act, target, mask, misfired):
    """``_consistency`` one episode and one position at a time, with a dict per (state, token)."""
    counts = {}
    for b in range(len(act)):
        x = automaton.x0
        for t in range(act.shape[1]):
            before, x = x, automaton.step(x, act[b, t])
            fires = automaton.fires(x).copy()
            fires[target[b, t]] = False
            if mask[b, t] and not (fires.any() and not misfired[b, t]):
                cell = counts.setdefault((before.tobytes(), int(act[b, t])), {})
                cell[target[b, t]] = cell.get(target[b, t], 0) + 1
    return sum(max(cell.values()) for cell in counts.values())


def test_the_consistency_score_matches_a_per_position_reference_on_random_automata():
    rng = np.random.default_rng(0)
    for _ in range(100):
        bits, tokens, outputs = (int(n) for n in rng.integers([1, 1, 2], [12, 4, 6]))
        density = rng.random() * 0.5
        automaton = Automaton(
            rng.random((tokens, bits, bits)) < density,
            rng.random((outputs, bits)) < density,
            rng.random(bits) < 0.5,
        )
        shape = tuple(int(n) for n in rng.integers(1, [20, 10]))
        act, target = rng.integers(0, tokens, shape), rng.integers(0, outputs, shape)
        mask, misfired = rng.random(shape) < 0.8, rng.random(shape) < 0.3
        args = (automaton, act, target, mask, misfired)
        assert _consistency(*args) == reference_consistency(*args)


def test_growth_stops_after_rounds_that_mend_no_miss(monkeypatch):
    """A round of growth that leaves as many misses as the best before it is a stall; after
    GROWTH_PATIENCE stalls in a row the rounds stop, and the merge follows."""
    env_id = "memgym/AutomatonEasy-v0"
    rollouts = batch_rollouts(env_id, 256, seed=1)
    model = still_model(len(rollouts.act_tokens), len(rollouts.obs_tokens), 32)
    batch = [torch.as_tensor(a) for a in (rollouts.act, rollouts.target, rollouts.mask)]
    rounds = []

    def fruitless(rewirer, view, links):  # grows nothing that mends a miss, forever
        rounds.append(agents.resample._misses(view))
        return True

    monkeypatch.setattr(agents.resample, "_grow", fruitless)
    done = resample_dormant_bits(
        model, torch.optim.Adam(model.parameters()), *batch, torch.Generator(), 7, []
    )

    assert len(rounds) == GROWTH_PATIENCE and len(set(rounds)) == 1 and rounds[0] > 0
    assert done == []  # nothing grown, the model's one state re-encodes as it is, no merge
