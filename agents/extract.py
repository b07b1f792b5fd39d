"""Automaton extraction from a trained boolean RNN: one import for the whole path.

Threshold (:class:`~agents.automaton.Automaton`), check by sampling (:func:`verify`), prove for
every length against the task's reference machine (:func:`prove`), export as a minimal Moore
machine (:func:`moore_machine`: DOT, AALpy), and draw the boolean matrices (:func:`draw`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.automaton import MISS, Automaton, TooManyStates, Trace
from agents.export import MooreTable, moore_machine
from agents.verify import Proof, Verification, episode_errors, hand_built_bits, prove, verify

__all__ = [
    "MISS",
    "Automaton",
    "MooreTable",
    "Proof",
    "TooManyStates",
    "Trace",
    "Verification",
    "draw",
    "episode_errors",
    "hand_built_bits",
    "moore_machine",
    "prove",
    "verify",
]


def draw(
    automaton: Automaton,
    path: str | Path,
    act_tokens: tuple[str, ...],
    obs_tokens: tuple[str, ...],
    used_bits: list[int],
) -> Path:
    """Save a PNG heatmap of each ``A_i`` and of ``C``, restricted to the used state bits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bits = used_bits or list(range(len(automaton.x0)))
    panels = [
        (f"A[{name}]", automaton.A[i][np.ix_(bits, bits)]) for i, name in enumerate(act_tokens)
    ]
    panels.append(("C", automaton.C[:, bits]))
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (title, matrix) in zip(axes.flat, panels, strict=False):
        ax.imshow(matrix, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(bits)), bits, fontsize=5)
        if title == "C":
            ax.set_yticks(range(len(obs_tokens)), obs_tokens, fontsize=5)
        else:
            ax.set_yticks(range(len(bits)), bits, fontsize=5)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"extracted automaton: {len(bits)} state bits used, "
        f"x0 true at {np.flatnonzero(automaton.x0).tolist()}",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
