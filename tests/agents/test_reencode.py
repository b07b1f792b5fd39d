"""Re-encoding a distributed automaton one bit per class of its minimal machine."""

from __future__ import annotations

import numpy as np
import torch

from agents.extract import Automaton
from agents.model import BooleanRNN
from agents.reencode import minimal_classes, one_hot_reencode
from agents.resample import REENCODED, RESAMPLE_MARGIN, resample_dormant_bits
from memgym import batch_rollouts
from tests.agents.handbuilt import FALSE, TRUE

ENV, KWARGS = "memgym/Tomita-v0", {"grammar": 1, "n_range": (2, 6)}  # accept 1*: no 0 read
ZERO, ONE, ASK, END = range(4)  # act tokens
WAIT, ACCEPT, REJECT = 0, 2, 3  # obs tokens


def absence_model(spare_bits: int = 12) -> BooleanRNN:
    """Tomita 1 in a distributed code: "started" (kept by every token) and "a 0 was read"
    (set by 0, kept by every token). Its states tell accept from reject, but accept is the
    absence of the second bit, which no OR of bits can name: the readout names nothing."""
    model = BooleanRNN(4, 4, 2 + spare_bits).eval()
    with torch.no_grad():
        model.A.fill_(FALSE)
        model.A[:, 0, 0] = TRUE
        model.A[:, 1, 1] = TRUE
        model.A[ZERO, 1, 0] = TRUE
        model.C.fill_(FALSE)
        model.x0.fill_(FALSE)
        model.x0[0] = TRUE
    return model


def batch(seed: int = 0, episodes: int = 256):
    rollouts = batch_rollouts(ENV, episodes, seed=seed, **KWARGS)
    return tuple(torch.as_tensor(a) for a in (rollouts.act, rollouts.target, rollouts.mask))


def test_minimal_classes_merge_states_with_the_same_futures():
    automaton = Automaton.from_model(absence_model())
    act, target, mask = (x.numpy() for x in batch())

    transitions, class_of, start, answers = minimal_classes(automaton, act, target, mask)

    # "no 0 yet" and "a 0 read": two classes (what follows [ask] has no target on the batch)
    assert start == class_of[0]
    assert answers == 2 * 3  # [wait] after 0 and 1, accept or reject after [ask]
    assert len(transitions) == len(np.unique(class_of))
    assert transitions[start, ONE] == start and transitions[start, ZERO] != start
    zero_read = transitions[start, ZERO]
    assert transitions[zero_read, ONE] == zero_read == transitions[zero_read, ZERO]


def test_minimal_classes_refuse_states_that_do_not_tell_the_answers():
    model = absence_model()
    with torch.no_grad():
        model.A[ZERO, 1, 0] = FALSE  # the 0 is never noticed: one state answers both ways
    act, target, mask = (x.numpy() for x in batch())
    assert minimal_classes(Automaton.from_model(model), act, target, mask) is None
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert one_hot_reencode(model, torch.optim.Adam(model.parameters()), *batch(), 40.0) == []
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_an_answer_that_is_an_absence_is_named_after_re_encoding():
    model = absence_model()
    act, target, mask = batch()
    asked = (act == ASK) & mask
    assert (Automaton.from_model(model).run(act.numpy()).predictions[asked.numpy()] == -1).all()

    done = resample_dormant_bits(
        model, torch.optim.Adam(model.parameters()), act, target, mask, torch.Generator()
    )

    classes = [r.bit for r in done if r.output == REENCODED]
    assert classes
    assert (model.x0.detach()[classes] == RESAMPLE_MARGIN).sum() == 1  # one start class
    act, target, mask = batch(seed=1)
    asked = ((act == ASK) & mask).numpy()
    predictions = Automaton.from_model(model).run(act.numpy()).predictions
    np.testing.assert_array_equal(predictions[asked], target.numpy()[asked])
