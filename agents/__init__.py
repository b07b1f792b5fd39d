"""The boolean state-space recurrent network and its training, evaluation and extraction."""

from agents.model import BooleanRNN
from agents.ops.scan import boolean_scan

__all__ = ["BooleanRNN", "boolean_scan"]
