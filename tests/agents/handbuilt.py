"""A hand-built boolean RNN for Remember (DESIGN.md §3), exact by construction."""

from __future__ import annotations

import torch

from agents.model import BooleanRNN

TRUE, FALSE = 20.0, -20.0


def remember_model(num_cards: int) -> BooleanRNN:
    """Bits: start, holding card i (c bits), answering card i (c bits), done.

    Act tokens: ``[card 0..c-1], [wait], [ask], [end]``; obs: ``[wait], [end], [card ...]``.
    """
    c = num_cards
    start, hold, answer, done = 0, 1, 1 + c, 1 + 2 * c
    wait, ask, end = c, c + 1, c + 2
    A = torch.full((c + 3, 2 * c + 2, 2 * c + 2), FALSE)
    C = torch.full((c + 2, 2 * c + 2), FALSE)
    x0 = torch.full((2 * c + 2,), FALSE)
    x0[start] = TRUE
    for i in range(c):
        A[i, hold + i, start] = TRUE
        A[wait, hold + i, hold + i] = TRUE
        A[ask, answer + i, hold + i] = TRUE
        A[end, done, answer + i] = TRUE
        C[0, hold + i] = TRUE
        C[2 + i, answer + i] = TRUE
    A[end, done, done] = TRUE
    C[1, done] = TRUE
    model = BooleanRNN(c + 3, c + 2, 2 * c + 2)
    with torch.no_grad():
        model.A.copy_(A)
        model.C.copy_(C)
        model.x0.copy_(x0)
    return model.eval()
