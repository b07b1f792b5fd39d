"""Differentiable boolean operators, the boolean scan and the readout."""

from agents.ops.boolean import (
    PARAM_BOUND,
    bool_matmul,
    bool_matvec,
    bound_parameter,
    shift_rows,
    soft_and,
    soft_not,
    soft_or,
)
from agents.ops.readout import readout
from agents.ops.scan import boolean_scan

__all__ = [
    "PARAM_BOUND",
    "bool_matmul",
    "bool_matvec",
    "boolean_scan",
    "bound_parameter",
    "readout",
    "shift_rows",
    "soft_and",
    "soft_not",
    "soft_or",
]
