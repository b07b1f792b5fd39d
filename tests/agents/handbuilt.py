"""Hand-built boolean RNNs for Remember, Count and Repeat (docs/architecture.md, "Hand-built
automata"), exact by construction."""

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


def count_model(n_max: int, max_count: int | None = None, spare_bits: int = 0) -> BooleanRNN:
    """Bits: waiting, count k (k = 0..max_count, default n_max), answering k, then
    ``spare_bits`` unused ones. Exact for streams of up to ``n_max`` bits with at most
    ``max_count`` ``1`` s; a ``1`` beyond that clears the count and sets nothing.

    Act tokens: ``0, 1, [ask], [end]``; obs: ``[wait], [end], 0, 1, ..., n_max``.
    """
    max_count = n_max if max_count is None else max_count
    K = max_count + 1
    waiting, count, answer = 0, 1, 1 + K
    zero, one, ask = 0, 1, 2
    D = 1 + 2 * K + spare_bits
    A = torch.full((4, D, D), FALSE)
    C = torch.full((3 + n_max, D), FALSE)
    x0 = torch.full((D,), FALSE)
    x0[[waiting, count]] = TRUE
    A[[zero, one], waiting, waiting] = TRUE
    C[0, waiting] = TRUE
    for k in range(K):
        A[zero, count + k, count + k] = TRUE
        if k + 1 < K:
            A[one, count + k + 1, count + k] = TRUE
        A[ask, answer + k, count + k] = TRUE
        C[2 + k, answer + k] = TRUE
    model = BooleanRNN(4, 3 + n_max, D)
    with torch.no_grad():
        model.A.copy_(A)
        model.C.copy_(C)
        model.x0.copy_(x0)
    return model.eval()


def forgetful_model(num_cards: int, spare_bits: int, remember: bool = False) -> BooleanRNN:
    """Bits: waiting (cleared by ``[ask]``, names ``[wait]``), then ``spare_bits`` unused ones:
    it forgets every card at once, so it answers nothing at ``[ask]``.

    Act tokens: ``[card 0..c-1], [ask], [end]`` (Repeat), or with ``remember``
    ``[card 0..c-1], [wait], [ask], [end]`` (Remember); obs: ``[wait], [end], [card ...]``.
    """
    c = num_cards
    ask = c + int(remember)
    model = BooleanRNN(ask + 2, c + 2, 1 + spare_bits)
    with torch.no_grad():
        model.A.fill_(FALSE)
        model.A[:ask, 0, 0] = TRUE
        model.C.fill_(FALSE)
        model.C[0, 0] = TRUE
        model.x0.fill_(FALSE)
        model.x0[0] = TRUE
    return model.eval()


def repeat_model(num_cards: int, lag: int) -> BooleanRNN:
    """Bits: dealing (names ``[wait]``), a shift register of ``lag`` slots × ``num_cards``
    (slot 0 holds the latest card), answering card i (c bits), done.

    Act tokens: ``[card 0..c-1], [ask], [end]``; obs: ``[wait], [end], [card ...]``.
    """
    c = num_cards
    dealing, slot, answer, done = 0, 1, 1 + lag * c, 1 + (lag + 1) * c
    ask, end = c, c + 1
    D = done + 1
    A = torch.full((c + 2, D, D), FALSE)
    C = torch.full((c + 2, D), FALSE)
    x0 = torch.full((D,), FALSE)
    x0[dealing] = TRUE
    for i in range(c):
        A[i, dealing, dealing] = TRUE
        A[i, slot + i, dealing] = TRUE
        for j in range(lag - 1):
            A[:c, slot + (j + 1) * c + i, slot + j * c + i] = TRUE
        A[ask, answer + i, slot + (lag - 1) * c + i] = TRUE
        A[end, done, answer + i] = TRUE
        C[2 + i, answer + i] = TRUE
    A[end, done, done] = TRUE
    C[0, dealing] = TRUE
    C[1, done] = TRUE
    model = BooleanRNN(c + 2, c + 2, D)
    with torch.no_grad():
        model.A.copy_(A)
        model.C.copy_(C)
        model.x0.copy_(x0)
    return model.eval()


def still_model(num_act_tokens: int, num_obs_tokens: int, bits: int) -> BooleanRNN:
    """Only a start bit, kept by every token and naming nothing: a state that never moves."""
    model = BooleanRNN(num_act_tokens, num_obs_tokens, bits).eval()
    with torch.no_grad():
        model.A.fill_(FALSE)
        model.A[:, 0, 0] = TRUE
        model.C.fill_(FALSE)
        model.x0.fill_(FALSE)
        model.x0[0] = TRUE
    return model
