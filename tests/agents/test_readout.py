"""The readout ``C ⊗ x``, eager and compiled, against the float64 reference."""

import pytest
import torch

from agents.ops import bound_parameter, readout
from agents.ops import reference as ref


def _inputs(V=5, D=6, shape=(3, 4), scale=4.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    C = bound_parameter(torch.randn(V, D, generator=gen, dtype=torch.float64) * scale)
    states = bound_parameter(torch.randn(*shape, D, generator=gen, dtype=torch.float64) * scale)
    return C.requires_grad_(), states.requires_grad_()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_values_and_gradients_equal_reference(compiled):
    C, states = _inputs()
    grad = torch.randn(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = readout(C, states, compiled=compiled)
    expected = ref.matvec_ref(C, states.unsqueeze(-2)).squeeze(-2)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    got_grads = torch.autograd.grad((got * grad).sum(), (C, states))
    expected_grads = torch.autograd.grad((expected * grad).sum(), (C, states))
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_gradcheck(compiled):
    C, states = _inputs(V=3, D=4, shape=(2,), scale=2.0, seed=2)
    assert torch.autograd.gradcheck(lambda c, x: readout(c, x, compiled=compiled), (C, states))


def test_compiled_float32_matches_eager():
    C, states = (t.detach().float() for t in _inputs(V=7, D=16, shape=(8, 5), seed=3))
    torch.testing.assert_close(readout(C, states, compiled=True), readout(C, states))
