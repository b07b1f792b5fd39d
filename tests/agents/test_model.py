"""BooleanRNN: shapes, step against forward, noise, resets, config and input errors."""

import json

import numpy as np
import pytest
import torch

from agents import BooleanRNN
from agents.ops import PARAM_BOUND, bool_matvec, bound_parameter


@pytest.fixture
def model():
    torch.manual_seed(0)
    return BooleanRNN(5, 4, 8, param_noise=0.5).eval()


def _act(B=3, T=11, V=5, seed=0):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_shapes_and_parameters(model):
    act = _act()
    assert model(act).shape == (3, 11, 4)
    assert model.scan_states(act).shape == (3, 11, 8)
    assert model.initial_state(3).shape == (3, 8)
    assert {name for name, _ in model.named_parameters()} == {"A", "C", "x0"}
    A, C, x0 = model.boolean_parameters()
    assert A.dtype == C.dtype == x0.dtype == torch.bool
    assert (A.shape, C.shape, x0.shape) == ((5, 8, 8), (4, 8), (8,))


@pytest.mark.parametrize("scan", ["sequential", "compiled", "hillis_steele", "blelloch"])
def test_forward_is_readout_of_exact_states(model, scan):
    model.scan = scan
    act = _act()
    A, C, x0 = (bound_parameter(p).double() for p in (model.A, model.C, model.x0))
    x, states = x0.expand(3, -1), []
    for t in range(act.shape[1]):
        x = bool_matvec(A[act[:, t]], x)
        states.append(x)
    logits = bool_matvec(C, torch.stack(states, dim=1))
    tol = 1e-4 if scan in ("sequential", "compiled") else 10.0
    torch.testing.assert_close(model(act).double(), logits, rtol=0, atol=tol)


def test_step_agrees_with_forward(model):
    act = _act(T=30)
    logits = model(act)
    state = model.initial_state(3)
    for t in range(act.shape[1]):
        step_logits, state = model.step(state, act[:, t])
        torch.testing.assert_close(step_logits, logits[:, t], rtol=1e-5, atol=1e-5)


def test_state_continues_a_sequence(model):
    act = _act(T=12)
    whole = model(act)
    first = model.scan_states(act[:, :5])
    torch.testing.assert_close(model(act[:, 5:], state=first[:, -1]), whole[:, 5:])


def test_resets_equal_separate_sequences(model):
    act = _act(T=12)
    resets = torch.zeros_like(act, dtype=torch.bool)
    resets[1, 7] = True
    joined = model(act, resets=resets)
    torch.testing.assert_close(joined[1, 7:], model(act[1:2, 7:])[0])
    torch.testing.assert_close(joined[0], model(act[:1])[0])


def test_noise_only_in_training_and_reproducible(model):
    act = _act()
    torch.testing.assert_close(model(act), model(act), rtol=0, atol=0)
    model.train()
    torch.manual_seed(1)
    first = model(act)
    torch.manual_seed(1)
    assert torch.equal(first, model(act))
    assert not torch.equal(first, model(act))
    model.param_noise = 0.0
    assert torch.equal(model(act), model.eval()(act))


def test_row_noise_shifts_whole_rows_in_training_only(model):
    model.param_noise, model.row_noise = 0.0, 3.0
    clean = model.effective_parameters()
    assert all(torch.equal(a, b) for a, b in zip(clean, model.effective_parameters(), strict=True))
    noisy = model.effective_parameters(noisy=True)
    for before, after in zip(clean, noisy, strict=True):
        inside = before.abs() < PARAM_BOUND - 20  # far from the clip
        shift = after - before
        row_shift = shift[..., :1].expand_as(shift)
        assert torch.allclose(shift[inside], row_shift[inside])
        assert shift.abs().max() > 0


def test_config_rebuilds(model):
    rebuilt = BooleanRNN(**json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config == model.config
    assert torch.equal(rebuilt.eval()(_act()), model(_act()))


def test_initialisation():
    torch.manual_seed(0)
    A, _, x0 = BooleanRNN(4, 3, 16).boolean_parameters()
    assert x0.sum() == 1
    diagonal = torch.eye(16, dtype=torch.bool).expand_as(A)
    assert A[diagonal].float().mean() > 0.9
    assert A[~diagonal].float().mean() < 0.1


def test_long_act_stream_finite():
    torch.manual_seed(0)
    model = BooleanRNN(3, 3, 4, param_noise=0.1)
    with torch.no_grad():
        model.A.mul_(50)
    logits = model(_act(B=1, T=20_000, V=3))
    assert torch.isfinite(logits).all()
    logits.logsumexp(-1).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("act", "error", "match"),
    [
        (torch.zeros(2, 3), TypeError, "int64 or int32"),
        (torch.zeros(2, 3, dtype=torch.int16), TypeError, "int64 or int32"),
        (np.zeros((2, 3), dtype=np.int64), TypeError, "got a numpy.ndarray"),
        (torch.zeros(3, dtype=torch.int64), ValueError, r"shaped \(B, T\)"),
        (torch.full((2, 3), 5), ValueError, r"\[0, 5\)"),
        (torch.full((2, 3), -1), ValueError, r"\[0, 5\)"),
    ],
)
def test_bad_act_raises(model, act, error, match):
    with pytest.raises(error, match=match):
        model(act)


def test_bad_state_resets_and_step_raise(model):
    act = _act(B=2, T=4)
    with pytest.raises(ValueError, match=r"state must be .* \(2, 8\)"):
        model(act, state=torch.zeros(2, 7))
    with pytest.raises(ValueError, match="resets must be a bool tensor"):
        model(act, resets=torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"shaped \(B,\)"):
        model.step(model.initial_state(2), act)
    with pytest.raises(ValueError, match="act tokens must lie"):
        model.step(model.initial_state(2), torch.tensor([0, 9]))


def test_bad_construction_raises():
    with pytest.raises(ValueError, match="unknown scan method"):
        BooleanRNN(2, 2, 4, scan="magic")
    with pytest.raises(ValueError, match="state_dim >= 2"):
        BooleanRNN(2, 2, 1)
