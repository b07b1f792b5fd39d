"""What the benchmark scripts share: preset ids and a description of the machine."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def env_id(preset: str) -> str:
    """Gymnasium id of a preset name: ``RememberEasy`` → ``memgym/RememberEasy-v0``."""
    return f"memgym/{preset}-v0"


def cpu_description() -> str:
    """CPU model, the cores this process may use, and the Python version."""
    model = platform.processor() or platform.machine() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        model = names[0] if names else model
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, nproc = {cores}, Python {platform.python_version()}"
