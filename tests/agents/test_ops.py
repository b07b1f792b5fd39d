"""The stable boolean operators against their literal float64 forms."""

import pytest
import torch

from agents.ops import (
    PARAM_BOUND,
    bool_matmul,
    bool_matvec,
    bound_parameter,
    shift_rows,
    soft_and,
    soft_not,
    soft_or,
)
from agents.ops import reference as ref


def _randn(*shape, scale=1.0, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=dtype) * scale).requires_grad_()


@pytest.mark.parametrize("scale", [1.0, 10.0, 100.0])
def test_binary_operators_match_reference(scale):
    x, y = _randn(1000, scale=scale, seed=1), _randn(1000, scale=scale, seed=2)
    torch.testing.assert_close(soft_and(x, y), ref.and_ref(x, y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(soft_or(x, y), ref.or_ref(x, y), rtol=1e-12, atol=1e-12)
    assert torch.equal(soft_not(x), -x)


@pytest.mark.parametrize("scale", [1.0, 10.0, 100.0])
def test_products_match_reference(scale):
    a, b, v = _randn(4, 5, 6, scale=scale), _randn(4, 6, 3, scale=scale, seed=1), _randn(6, seed=2)
    torch.testing.assert_close(bool_matmul(a, b), ref.matmul_ref(a, b), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(bool_matvec(a, v), ref.matvec_ref(a, v), rtol=1e-12, atol=1e-10)


def test_float32_products_match_reference_at_any_magnitude():
    a, b = _randn(8, 8, scale=100.0, dtype=torch.float32), _randn(8, 8, seed=1, scale=100.0)
    expected = ref.matmul_ref(a, b)
    torch.testing.assert_close(bool_matmul(a, b.float()).double(), expected, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_at_large_magnitude(dtype):
    a, b = _randn(6, 6, scale=100.0, dtype=dtype), _randn(6, 6, scale=100.0, seed=1, dtype=dtype)
    x, y = (
        _randn(50, scale=100.0, seed=2, dtype=dtype),
        _randn(50, scale=100.0, seed=3, dtype=dtype),
    )
    loss = bool_matmul(a, b).sum() + bool_matvec(a, b[0]).sum()
    loss = loss + soft_and(x, y).sum() + soft_or(x, y).sum() + bound_parameter(x).sum()
    loss.backward()
    for t in (a, b, x, y):
        assert torch.isfinite(t.grad).all()


def test_gradcheck():
    a, b, v = _randn(2, 3, 4, seed=3), _randn(2, 4, 3, seed=4), _randn(4, seed=5)
    x, y = _randn(7, scale=3.0, seed=6), _randn(7, scale=3.0, seed=7)
    for fn, args in [
        (soft_and, (x, y)),
        (soft_or, (x, y)),
        (soft_not, (x,)),
        (bool_matmul, (a, b)),
        (bool_matvec, (a, v)),
        (bound_parameter, (x * 20,)),
    ]:
        assert torch.autograd.gradcheck(fn, args), fn.__name__


def test_bound_parameter_keeps_sign_and_bound():
    x = _randn(1000, scale=1000.0).detach()
    bounded = bound_parameter(x)
    assert torch.equal(bounded > 0, x > 0)
    assert bounded.abs().max() <= PARAM_BOUND


def test_inner_size_mismatch_raises():
    with pytest.raises(ValueError, match="inner sizes differ"):
        bool_matmul(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="inner sizes differ"):
        bool_matvec(torch.zeros(2, 3), torch.zeros(2))


def test_shift_rows_moves_each_row_by_one_shared_draw():
    values = _randn(3, 5, 8, scale=2.0).detach()
    torch.manual_seed(0)
    shifted = shift_rows(values, 4.0)
    shift = shifted - values
    torch.testing.assert_close(shift, shift[..., :1].expand_as(shift))  # one draw per row
    assert shift[..., 0].std() > 1.0  # and the rows differ
    clipped = shift_rows(torch.full((2, 4), PARAM_BOUND - 0.1, dtype=torch.float64), 50.0)
    assert clipped.abs().max() <= PARAM_BOUND
    assert torch.equal(shift_rows(values, 0.0), values)
