"""GRU and LSTM baselines: the predictor interface and the model factory."""

from __future__ import annotations

import pytest
import torch

from agents.baselines import RecurrentBaseline, build_model, model_kind
from agents.model import BooleanRNN


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_forward_shape_and_config_rebuild(cell):
    model = RecurrentBaseline(cell, num_act_tokens=5, num_obs_tokens=4, state_dim=8)
    act = torch.randint(0, 5, (3, 11))
    assert model(act).shape == (3, 11, 4)
    rebuilt = build_model(cell, model.config)
    assert isinstance(rebuilt, RecurrentBaseline) and rebuilt.config == model.config
    assert model_kind(model) == cell


def test_logits_are_causal():
    model = RecurrentBaseline("lstm", 5, 4, 8)
    act = torch.randint(0, 5, (2, 10))
    changed = act.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 5
    assert torch.equal(model(act)[:, :6], model(changed)[:, :6])


def test_factory_builds_the_boolean_rnn():
    model = build_model("boolean", {"num_act_tokens": 5, "num_obs_tokens": 4, "state_dim": 6})
    assert isinstance(model, BooleanRNN) and model_kind(model) == "boolean"
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("rnn", {})


def test_bad_input_is_rejected():
    model = RecurrentBaseline("gru", 5, 4, 8)
    with pytest.raises(ValueError, match="lie in"):
        model(torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="cell"):
        RecurrentBaseline("rnn", 5, 4, 8)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_scan_states_and_readout_compose_to_forward(cell):
    model = RecurrentBaseline(cell, 5, 4, 8)
    act = torch.randint(0, 5, (3, 7))
    states = model.scan_states(act)
    assert states.shape == (3, 7, 8)
    torch.testing.assert_close(model.readout(states), model(act), rtol=0, atol=0)
