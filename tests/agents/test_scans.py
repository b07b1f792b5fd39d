"""The PyTorch scans against the float64 reference, each other and the boolean limit."""

import math

import pytest
import torch

from agents.ops import PARAM_BOUND, bool_matvec, boolean_scan, bound_parameter
from agents.ops import reference as ref
from agents.ops.scan import naive
from agents.ops.scan.compiled import compiled_scan

SCANS = [naive.sequential_scan, compiled_scan, naive.hillis_steele_scan, naive.blelloch_scan]
RECURRENT_SCANS = SCANS[:2]
MATRIX_SCANS = SCANS[2:]


def _problem(V=3, D=4, B=3, T=9, scale=2.0, seed=0, dtype=torch.float64, resets=False):
    """Bounded random ``A``, ``x0``, ``reset_state``, tokens and (optionally) reset flags."""
    gen = torch.Generator().manual_seed(seed)
    A = bound_parameter(torch.randn(V, D, D, generator=gen, dtype=dtype) * scale)
    x0 = bound_parameter(torch.randn(B, D, generator=gen, dtype=dtype) * scale)
    reset_state = bound_parameter(torch.randn(D, generator=gen, dtype=dtype) * scale)
    tokens = torch.randint(0, V, (B, T), generator=gen)
    flags = torch.rand(B, T, generator=gen) < 0.2 if resets else None
    return A, tokens, x0, flags, reset_state if resets else None


def _hard(t, gen):
    """Entries ``±(1 + |N(0, 1)|) · 100``, bounded as the model bounds them: the boolean limit."""
    magnitude = 1 + torch.randn(t.shape, generator=gen).abs()
    return bound_parameter(torch.where(t > 0, 1.0, -1.0) * magnitude * 100)


def _boolean_states(A, tokens, x0, resets, reset_state):
    """The exact boolean automaton: ``x'_i = OR_k (A_ik AND x_k)``."""
    A, x, out = A > 0, x0 > 0, []
    for t in range(tokens.shape[1]):
        if resets is not None:
            x = torch.where(resets[:, t, None], reset_state > 0, x)
        x = (A[tokens[:, t]] & x.unsqueeze(1)).any(-1)
        out.append(x)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("scan", RECURRENT_SCANS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("resets", [False, True])
def test_recurrence_equals_reference(scan, resets):
    A, tokens, x0, flags, reset_state = _problem(D=5, B=4, T=20, resets=resets)
    expected = ref.sequential_scan_ref(A, tokens, x0, flags, reset_state)
    got = scan(A, tokens, x0, resets=flags, reset_state=reset_state)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scan", RECURRENT_SCANS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("resets", [False, True])
def test_recurrence_gradients_equal_reference(scan, resets):
    inputs = _problem(D=5, B=4, T=20, resets=resets, seed=1)
    grad_out = torch.randn(4, 20, 5, dtype=torch.float64)

    def grads(fn):
        A, tokens, x0, flags, reset_state = (
            t.clone().requires_grad_() if t is not None and t.is_floating_point() else t
            for t in inputs
        )
        (fn(A, tokens, x0, flags, reset_state) * grad_out).sum().backward()
        return [t.grad for t in (A, x0, reset_state) if t is not None]

    expected = grads(ref.sequential_scan_ref)
    got = grads(lambda A, tk, x0, f, rs: scan(A, tk, x0, resets=f, reset_state=rs))
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scan", SCANS, ids=lambda f: f.__name__)
def test_gradcheck(scan):
    A, tokens, x0, flags, reset_state = _problem(V=2, D=3, B=2, T=6, resets=True, seed=2)
    A, x0, reset_state = (t.requires_grad_() for t in (A, x0, reset_state))
    assert torch.autograd.gradcheck(
        lambda A, x0, rs: scan(A, tokens, x0, resets=flags, reset_state=rs), (A, x0, reset_state)
    )


@pytest.mark.parametrize("scan", SCANS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("T", [1, 2, 7, 64])
def test_hard_limit_states_and_predictions_exact(scan, T):
    gen = torch.Generator().manual_seed(T)
    A, tokens, x0, flags, reset_state = _problem(D=8, B=16, T=T, resets=True, seed=T)
    A, x0, reset_state = (_hard(t, gen).float() for t in (A, x0, reset_state))
    C = _hard(torch.randn(5, 8, generator=gen), gen).float()
    states = scan(A, tokens, x0, resets=flags, reset_state=reset_state)
    exact = _boolean_states(A, tokens, x0, flags, reset_state)
    assert torch.equal(states > 0, exact)
    # Predictions are decided by the automaton where exactly one obs token is true.
    exact_obs = (C > 0).unsqueeze(0).unsqueeze(0) & exact.unsqueeze(-2)
    true_obs = exact_obs.any(-1)
    decided = true_obs.sum(-1) == 1
    predictions = bool_matvec(C, states).argmax(-1)
    assert torch.equal(predictions[decided], true_obs.float().argmax(-1)[decided])


@pytest.mark.parametrize("scan", MATRIX_SCANS, ids=lambda f: f.__name__)
def test_matrix_scans_within_documented_gap(scan):
    worst = 0.0
    for seed in range(4):
        A, tokens, x0, _, _ = _problem(D=8, B=8, T=64, scale=2.0, seed=seed)
        seq = naive.sequential_scan(A, tokens, x0)
        worst = max(worst, (scan(A, tokens, x0) - seq).abs().max().item())
    assert worst < naive.MODERATE_GAP_BOUND


@pytest.mark.parametrize("scan", SCANS, ids=lambda f: f.__name__)
def test_resets_equal_separate_sequences(scan):
    A, tokens, x0, _, reset_state = _problem(D=6, B=2, T=24, resets=True, seed=3)
    gen = torch.Generator().manual_seed(4)
    A, x0, reset_state = (_hard(t, gen) for t in (A, x0, reset_state))
    flags = torch.zeros_like(tokens, dtype=torch.bool)
    flags[:, 10] = True
    joined = scan(A, tokens, x0, resets=flags, reset_state=reset_state)
    first = scan(A, tokens[:, :10], x0)
    second = scan(A, tokens[:, 10:], reset_state.expand(2, -1))
    if scan in RECURRENT_SCANS:
        torch.testing.assert_close(joined, torch.cat([first, second], dim=1), rtol=0, atol=0)
    else:
        assert torch.equal(joined > 0, torch.cat([first, second], dim=1) > 0)


@pytest.mark.parametrize("scan", SCANS, ids=lambda f: f.__name__)
def test_empty_and_int32_tokens(scan):
    A, tokens, x0, _, _ = _problem(T=5)
    assert scan(A, tokens[:, :0], x0).shape == (3, 0, 4)
    torch.testing.assert_close(scan(A, tokens.int(), x0), scan(A, tokens, x0), rtol=0, atol=0)


def test_long_sequence_values_and_gradients_finite():
    gen = torch.Generator().manual_seed(5)
    T, D = 100_000, 4
    tokens = torch.randint(0, 3, (1, T), generator=gen)
    # Entries of every magnitude, from moderate to saturated at ±PARAM_BOUND.
    theta = torch.randn(4, D, D, generator=gen) * 10 ** (3 * torch.rand(4, D, D, generator=gen))
    A = bound_parameter(theta[:3]).requires_grad_()
    x0 = bound_parameter(theta[3, :1]).requires_grad_()
    states = boolean_scan(A, tokens, x0, method="sequential")
    assert torch.isfinite(states).all()
    assert states.min() >= -PARAM_BOUND - 1e-3
    assert states.max() <= PARAM_BOUND + math.log(D) + 1e-3
    (states * torch.randn(states.shape, generator=gen)).sum().backward()
    assert torch.isfinite(A.grad).all() and torch.isfinite(x0.grad).all()
