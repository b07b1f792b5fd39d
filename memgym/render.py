"""Text rendering of an episode as the act/obs table of the task definition."""

from __future__ import annotations

from collections.abc import Sequence


def episode_table(rows: dict[str, Sequence[str]], width: int = 100) -> str:
    """Lay out named rows as aligned columns ``t = 0, 1, …``, wrapped to ``width`` characters.

    Missing cells (a row shorter than the longest) are left blank.
    """
    steps = max(len(cells) for cells in rows.values())
    table = {"t": [str(t) for t in range(steps)]}
    table.update({name: [*cells, *[""] * (steps - len(cells))] for name, cells in rows.items()})
    label = max(len(name) for name in table)
    sizes = [max(len(table[name][t]) for name in table) for t in range(steps)]
    blocks, start = [], 0
    while start < steps:
        stop, used = start, label
        while stop < steps and (stop == start or used + 2 + sizes[stop] <= width):
            used += 2 + sizes[stop]
            stop += 1
        blocks.append(
            "\n".join(
                (
                    name.ljust(label)
                    + "".join("  " + cells[t].ljust(sizes[t]) for t in range(start, stop))
                ).rstrip()
                for name, cells in table.items()
            )
        )
        start = stop
    return "\n\n".join(blocks)
