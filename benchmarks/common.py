"""What the benchmark scripts share: preset ids, run records, a description of the machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


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


def merge_records(
    kept: Path, fresh: Path, drop: tuple[str, ...] = (), pattern: str = "*.json"
) -> list[dict[str, Any]]:
    """The run records (files matching ``pattern``) kept in ``kept``, each replaced by the one
    of the same name in ``fresh`` if there is one; all of them are written back to ``kept``
    less the keys in ``drop``. Committing ``kept`` lets a later run on another machine replace
    only its own rows of a table."""
    records: dict[str, dict[str, Any]] = {}
    for folder in (kept, fresh):
        for path in sorted(folder.glob(pattern)):
            records[path.name] = json.loads(path.read_text())
    kept.mkdir(parents=True, exist_ok=True)
    for name, record in records.items():
        for key in drop:
            record.pop(key, None)
        (kept / name).write_text(json.dumps(record, indent=1) + "\n")
    return [records[name] for name in sorted(records)]
