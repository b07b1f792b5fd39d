"""The errors that bad input to ``agents`` raises, and the device check.

Each is a ``ValueError`` whose message names the problem and what is allowed. The ``memgym``
command turns every :class:`UsageError` into one line on stderr and exit code 2
(``agents.cli``); anything else is a fault of the program and keeps its traceback.
"""

from __future__ import annotations

import torch


class UsageError(ValueError):
    """Input the program cannot run with: a bad option, setting, device or file."""


class CheckpointError(UsageError):
    """A path that is not a readable checkpoint of a model, or one that does not fit a run."""


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` this machine has (the CPU, a CUDA device, MPS).

    Raises :class:`UsageError` for a name torch does not know (``"gpu"``) and for a device
    this machine lacks (``"cuda"`` without CUDA), naming the devices it has.
    """
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = torch.backends.mps.is_available()
    have = ", ".join(["cpu", *(["cuda"] if cuda else []), *(f"cuda:{i}" for i in range(cuda))])
    have += ", mps" if mps else ""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {str(device)!r}; this machine has {have}") from None
    present = {"cpu": True, "cuda": cuda > 0, "mps": mps}.get(parsed.type, False)
    if parsed.type == "cuda" and parsed.index is not None:
        present = parsed.index < cuda
    if not present:
        raise UsageError(f"device {str(device)!r} is not available on this machine; it has {have}")
    return parsed
