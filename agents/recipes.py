"""Training recipes: the settings per preset behind docs/results.md, in one place.

``recipe("CountEasy")`` is the :class:`~agents.train.TrainConfig` of the boolean RNN's row in
the results table; ``recipe("CountEasy", model="lstm")`` that of the LSTM baseline (same state
size and step budget). ``benchmarks/results.py``, ``memgym demo`` and ``memgym train --recipe``
all start from here. Why each setting is what it is: docs/results-notes.md.
"""

from __future__ import annotations

from typing import Any

from agents.train import TrainConfig

STATE_DIMS = {
    "RememberEasy": 16,
    "CountEasy": 32,
    "RepeatEasy": 32,
    "RememberMedium": 64,
    "CountMedium": 64,
    "RepeatMedium": 48,
    "RememberHard": 160,
    "CountHard": 160,
    "RepeatHard": 128,
}
"""State size per preset: about 1.5–2× the hand-built automaton of docs/architecture.md."""

STEPS = {"Easy": 25000, "Medium": 40000, "Hard": 40000}
"""Step budget per difficulty (every model gets the same; the boolean RNN stops when its
hardening ends)."""

HARDEN_STEPS = 15000
"""Hardening steps of the boolean RNN after its first 100% held-out eval, or over the end of
the budget (``agents.train``), unless the preset's settings say otherwise."""

HARDEN_WARMUP = 3000
"""CountEasy, CountHard, RememberMedium, RepeatMedium and RepeatHard: the boolean RNN hardens
(and so resamples) from this step on. The row noise then works as a regulariser from early on:
on RepeatMedium the plateau near 48% gave way to 85–99% before delay lines (the run is chaotic:
docs/results-notes.md); on CountMedium it did worse (57% against 65%, before successor bits),
so that keeps the default. CountHard's budget would leave 25,000 steps before the default
start, which the CPU cannot afford; from step 3,000 its successor chain grew to count 59 at
the first resamplings (steps 6,000-6,500)."""

COUNTER_SETTINGS: dict[str, Any] = {
    "loss": "first_error_sign",
    "init_shift": 16.0,
    "harden_prior": 3e-4,
}
"""What the boolean RNN needs to learn a unary counter (the Count presets): the sign loss, the
shift init and the keep prior."""

RESAMPLE_INTERVAL = 1000
"""The boolean RNN recipes rewire dormant bits every this many hardening steps
(``agents.resample``): the CountEasy and RememberMedium automata then verify. RepeatEasy does
without: with it seeds 0 and 1 answered 100% but their automata missed one rare path (24 of
349,440 exhaustive episodes), while without it seeds 0-2 verify (docs/results-notes.md)."""

DELAY_SETTINGS: dict[str, Any] = {"resample_delays": True}
"""Repeat beyond Easy: resampling also grows a delay line for each card the model does not hold
(``agents.resample``, ``delays=True``). RepeatMedium kept a shift register for card 0 only and
answered 85%; with delay lines it answers 100% with a verified automaton."""

SUCCESSOR_SETTINGS: dict[str, Any] = {
    "resample_interval": 500,
    "resample_successors": True,
    "harden_prior": 3e-5,
}
"""Counters longer than CountEasy's: every 500 hardening steps, a missed count also gets an
answer or successor bit (``agents.resample``, ``successors=True``), which grows the chain;
CountMedium went from counting to 8 (67%) to 100% of answers and a verified automaton at state
64. A tenth of CountEasy's keep prior: the top counts are rare in training, and at 3e-4 the
prior wore their links away between the batches that hold them. CountEasy keeps 3e-4: at 3e-5
its seed 0 automaton fell to 90.5% at 10× length (docs/results-notes.md)."""

RARE_COUNT_EPISODES = 2048
"""CountHard resamples from this many fresh episodes, not the batch of 64: a count of 62-64
comes up in about one episode in 500 (n up to 64, the count uniform in 0..n), so the batch
rarely shows the resampler the top of the chain. From its batches alone the row reached
99.88% at 1× and 95-96% at 4×-100×, every miss a count of 62-64 (docs/results-notes.md)."""

DECOUPLED_PRIOR: dict[str, Any] = {"harden_prior": 0.1, "prior_decoupled": True}
"""CountHard: the keep prior as a step of its own after Adam's (``agents.train``), moving an
entry by at most lr·0.1 = 0.01 a step. Through Adam, even at 3e-5, the prior pulled the links of
counts seen once in 500 episodes at nearly the full learning rate between the batches that hold
them: the top of the chain wore away between resamplings and was regrown, 22 bits for counts
56-64 at step 16,500, and the automaton did not verify. Outside Adam, the calls from step 5,000
to 11,000 found nothing to mend and the row's automaton verifies. Without the prior no bit was
left dormant for the chain to grow into (350 junk links by step 7,500, held-out 12%)."""

LATCH_SETTINGS: dict[str, Any] = {
    "harden_start": 200,
    "harden_steps": 1300,
    "resample_interval": 200,
    "resample_latches": True,
    "resample_episodes": 2048,
}
"""RememberHard: resampling grows a latch for each card (``agents.resample``,
``latches=True``), from 2,048 fresh episodes (every card about 32 times). By step 160 the readout
has stopped naming cards before ``[ask]``, while most bits are still dormant; 64 latches take 128
of the 160. With RememberMedium's settings (hardening from step 3,000) held-out answers were
still at chance at step 4,500, and by then too few bits were left for a latch per card."""

BOOLEAN_SETTINGS: dict[str, dict[str, Any]] = {
    "CountEasy": {
        **COUNTER_SETTINGS,
        "harden_start": HARDEN_WARMUP,
        "harden_steps": 22000,
        "resample_successors": True,
    },
    "CountMedium": COUNTER_SETTINGS | SUCCESSOR_SETTINGS,
    "CountHard": COUNTER_SETTINGS
    | SUCCESSOR_SETTINGS
    | {"harden_start": HARDEN_WARMUP, "resample_episodes": RARE_COUNT_EPISODES}
    | DECOUPLED_PRIOR,
    "RememberMedium": {"lr": 0.03, "harden_start": HARDEN_WARMUP, "harden_steps": 15000},
    "RepeatMedium": {"harden_start": HARDEN_WARMUP, "harden_steps": 27000, **DELAY_SETTINGS},
    "RepeatHard": {"harden_start": HARDEN_WARMUP, **DELAY_SETTINGS},
    "RememberHard": LATCH_SETTINGS,
    "RepeatEasy": {"resample_interval": 0},
}
"""TrainConfig settings of the boolean RNN that differ from the defaults, per preset."""

BASELINE_LR = 0.01
"""Adam learning rate of GRU and LSTM (at the boolean RNN's 0.1 both often failed to learn)."""

EVALS_PER_RUN = 250
"""Held-out evals over a run's budget (the learning curves' resolution)."""


def preset_name(preset: str) -> str:
    """``"CountEasy"`` from ``"CountEasy"`` or ``"memgym/CountEasy-v0"``; an error naming the
    presets for anything else."""
    name = preset.removeprefix("memgym/").removesuffix("-v0")
    if name not in STATE_DIMS:
        raise ValueError(f"no recipe for {preset!r}; presets: {', '.join(STATE_DIMS)}")
    return name


def recipe(
    preset: str,
    model: str = "boolean",
    steps: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> TrainConfig:
    """The training run of ``preset``'s row for ``model``: its state size, the difficulty's step
    budget (or ``steps``), and the model's settings (the boolean RNN's per preset, GRU's and
    LSTM's learning rate)."""
    name = preset_name(preset)
    steps = steps or STEPS[next(level for level in STEPS if name.endswith(level))]
    settings: dict[str, Any] = {"lr": BASELINE_LR}
    if model == "boolean":
        settings = {
            "harden_steps": HARDEN_STEPS,
            "resample_interval": RESAMPLE_INTERVAL,
            **BOOLEAN_SETTINGS.get(name, {}),
        }
    return TrainConfig(
        env_id=f"memgym/{name}-v0",
        model=model,
        state_dim=STATE_DIMS[name],
        steps=steps,
        seed=seed,
        device=device,
        eval_interval=max(1, steps // EVALS_PER_RUN),
        **settings,
    )
