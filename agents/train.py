"""Train a next-obs predictor on supervised rollouts of a memgym env: the one learner.

``train(TrainConfig(env_id=...))`` runs one loop for every model kind (the boolean RNN, GRU,
LSTM): draw a batch with ``memgym.batch_rollouts`` (seeded by the run's seed and the step, so a
run is reproducible and resumes exactly), predict every ``target[:, t]`` from ``act[:, :t+1]``,
take an Adam step on the first-error loss, and now and then score a fixed held-out batch and
write a checkpoint.

A model that ``hardens`` (the boolean RNN) is hardened into its thresholded automaton: from the
first 100% held-out eval, or from step ``harden_start`` at the latest, it trains with the sign
loss while a row noise (:func:`agents.ops.boolean.shift_rows`) ramps up to ``harden_noise``
over ``harden_ramp`` steps, and a keep prior (:meth:`~agents.model.BooleanRNN.prior_step_`)
frees the bits the data does not use. Every ``check_interval`` hardening steps the thresholded
automaton is checked (:func:`check_automaton`: proved against the task's reference machine
for every length where it has one); the run stops once it verifies, else dormant
bits are rewired (:mod:`agents.resample`) from fresh episodes and the shortest act stream on
which the automaton and the reference machine differ (:func:`shortest_counterexample`, the
episode a random batch is least likely to hold), and checked again, a few rounds
(:func:`refine`), as counterexample-guided refinement does. ``steps`` caps the run.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from agents.baselines import MODEL_KINDS, build_model
from agents.checkpoint import CHECKPOINT_DIR, restore_training, save_checkpoint
from agents.errors import CheckpointError
from agents.extract import Automaton, hand_built_bits, prove, verify
from agents.ops.scan import METHODS as SCAN_METHODS
from agents.resample import resample_dormant_bits
from memgym import ReferenceMachine, Rollouts, batch_rollouts, memgym_task, reference

LOSSES = ("first_error", "first_error_sign", "ce")
TRAIN_STREAM, HELDOUT_STREAM, RESAMPLE_STREAM, RESAMPLE_BATCH_STREAM, MERGE_BATCH_STREAM = range(5)
QUICK_CHECK = {"exhaustive_budget": 20_000, "random_episodes": 2_000}
"""Budgets of the sampled check that runs every ``check_interval`` hardening steps; only an
automaton that passes it gets the full check of :func:`agents.extract.verify`."""
COUNTEREXAMPLE_STATES = 100_000
"""Product states the search for a counterexample, added to a resampling's batch, may visit."""
MERGE_EPISODES = 16_384
"""Episodes of every length (:func:`every_length_rollouts`) the state merging of a resampling
reads first besides its batch (:class:`MergeLadder`): RPNI merged AutomatonMedium's 32-state
machine (36 states with the answers) from 16,384 on each of 4 draws tried, and from 8,192 on
2 of 3 (241 states on the third)."""
MERGE_TOKENS = 2**23
"""Act tokens of every length a batch of the :class:`MergeLadder` may hold: AutomatonHard's
262,144 episodes of every length hold 6.8 M, and their prefix tree took 3.6 GB and 19 s to
build and merge."""
REFINE_ROUNDS = 8
"""Rounds of check, counterexample and rewiring one check may run (:func:`refine`): each
rewiring is checked at once, not a ``check_interval`` later. CountMedium seeds 0 and 2 took
one counterexample per check for 2,000 and 3,000 steps before this."""


def option(
    default: Any,
    help: str,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
) -> Any:
    """A :class:`TrainConfig` field with its documentation, its choices and its smallest value,
    from which ``memgym train``'s option is generated (``agents.cli``)."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum})


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in its checkpoints). The defaults are the
    learner: only ``env_id`` is needed."""

    env_id: str = option("memgym/RememberEasy-v0", "the env to learn")
    env_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "keyword arguments of the env"}
    )
    model: str = option("boolean", "predictor kind", MODEL_KINDS)
    state_dim: int | None = option(
        None,
        "state bits (default: twice the task's hand-built automaton, state_dim_for)",
        minimum=2,
    )
    steps: int = option(
        30000, "step cap; a boolean RNN stops once its automaton verifies", minimum=1
    )
    batch_size: int = option(64, "episodes per training batch", minimum=1)
    lr: float | None = option(None, "Adam's learning rate (default: the model's default_lr)")
    param_noise: float = option(1.5, "σ of the boolean RNN's parameter noise", minimum=0.0)
    init_std: float = option(2.0, "the boolean RNN's init scale", minimum=0.0)
    init_keep: float = option(
        16.0, "the boolean RNN's A_i start near 'keep every bit'", minimum=0.0
    )
    loss: str = option("first_error_sign", "loss before hardening", LOSSES)
    curriculum_steps: int = option(
        0, "> 0: widen n_max linearly from n_min over this many steps", minimum=0
    )
    seed: int = option(0, "seed of the init and of every batch", minimum=0)
    device: str = option("cpu", "torch device")
    scan: str = option("auto", "the boolean RNN's scan method (agents.ops.scan)", SCAN_METHODS)
    eval_interval: int = option(50, "steps between held-out evals", minimum=1)
    eval_episodes: int = option(1000, "held-out episodes", minimum=1)
    harden_start: int = option(
        1000, "latest step hardening starts (earlier: first 100% eval)", minimum=0
    )
    harden_ramp: int = option(10000, "steps over which hardening's row noise ramps up", minimum=1)
    harden_noise: float = option(8.0, "σ of hardening's row noise", minimum=0.0)
    harden_prior: float = option(
        0.1, "step of the keep prior while hardening, in units of lr", minimum=0.0
    )
    check_interval: int = option(
        500, "hardening steps between automaton checks and resamplings", minimum=1
    )
    resample_episodes: int = option(2048, "fresh episodes each resampling reads", minimum=1)
    checkpoint_interval: int = option(500, "steps between checkpoints", minimum=1)

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.scan not in SCAN_METHODS:
            raise ValueError(f"scan must be one of {SCAN_METHODS}, got {self.scan!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        below = [
            f"{f.name} must be at least {f.metadata['minimum']}, got {getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if f.metadata.get("minimum") is not None
            and getattr(self, f.name) is not None
            and not getattr(self, f.name) >= f.metadata["minimum"]
        ]
        if self.lr is not None and not self.lr > 0:
            below.append(f"lr must be above 0, got {self.lr}")
        if below:
            raise ValueError("; ".join(below))


def state_dim_for(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """The default state size: twice the bits of the task's hand-built automaton
    (:func:`agents.extract.hand_built_bits`), rounded up to a multiple of 16; 32 for a task
    without one. The spare bits are what resampling grows delay lines, latches and counts into."""
    task = memgym_task(env_id, **env_kwargs)
    bits = hand_built_bits(task) if task is not None else None
    return 32 if bits is None else 16 * math.ceil(2 * bits / 16)


@dataclass
class TrainState:
    """What the loop carries from step to step (saved in checkpoints)."""

    step: int = 0
    loss: list[float] = field(default_factory=list)  # training loss at each step
    accuracy: list[float] = field(default_factory=list)  # answer accuracy of each batch
    eval_steps: list[int] = field(default_factory=list)  # steps after which held-out was scored
    eval_accuracy: list[float] = field(default_factory=list)  # held-out answer accuracy
    steps_to_perfect: int | None = None  # first step count with 100% held-out answers
    seconds_to_perfect: float | None = None  # training wall-clock time then
    seconds: float = 0.0  # total training wall-clock time (over resumes too)
    harden_from: int | None = None  # step at which hardening began (None: it did not)
    verified_at: int | None = None  # step at which the automaton verified (None: it did not)
    verified_by: str | None = None  # how: "proof" (every length) or "sampled check"
    seconds_to_verified: float | None = None  # training wall-clock time then
    resamples: list[dict[str, int]] = field(default_factory=list)  # dormant bits rewired
    resampled_at: list[int] = field(default_factory=list)  # steps whose check drew episodes
    merge_draws: list[int] = field(default_factory=list)  # every-length batches each one drew


@dataclass
class TrainResult(TrainState):
    """What a run produced: its final :class:`TrainState`, the model and the config."""

    model: nn.Module | None = None
    config: TrainConfig | None = None


def first_error_loss(
    logits: Tensor, target: Tensor, mask: Tensor, wrong: Tensor | None = None
) -> Tensor:
    """The note's first-error loss: per sequence, cross-entropy at its first wrong prediction.

    ``wrong`` (bool ``(B, T)``) marks the wrong predictions; by default a position is wrong
    when the argmax of ``logits`` is not the target; the loop passes the model's ``misses``
    (for the boolean RNN, the criterion of the extracted automaton). Only
    valid (``mask``) positions count. Everything after the first wrong position was computed
    from a state that is already wrong, so it adds nothing.
    A sequence with no wrong position contributes zero but still counts in the mean over the
    batch: the loss is the sum of the first-error cross-entropies divided by the batch size.
    With parameter noise on, a right but fragile sequence soon fails under some noise sample
    and is trained again, which drives the parameters away from 0.
    """
    if wrong is None:
        wrong = logits.argmax(-1) != target
    wrong = wrong & mask
    ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    first = wrong.int().argmax(dim=1, keepdim=True)  # index of the first True (0 if none)
    return (ce.gather(1, first).squeeze(1) * wrong.any(dim=1)).sum() / len(target)


def first_error_sign_loss(
    logits: Tensor, target: Tensor, mask: Tensor, wrong: Tensor | None = None
) -> Tensor:
    """:func:`first_error_loss` with a per-output sign term added at the first wrong position.

    The term is ``Σ_v softplus(-s_v · logit_v)`` with ``s_v = +1`` for the target and ``-1``
    for every other token: it is large wherever the boolean readout is wrong (see
    :meth:`~agents.model.BooleanRNN.misses`), even when the argmax is already right.
    Cross-entropy alone is blind to a shift of all logits, so a position where several outputs
    are true but the target's is the largest gives it almost no gradient, and that position,
    being the first miss, hides every later mistake of the sequence from the loss.
    """
    if wrong is None:
        wrong = logits.argmax(-1) != target
    wrong = wrong & mask
    ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    sign = 2 * F.one_hot(target, logits.shape[-1]).to(logits.dtype) - 1
    per_position = ce + F.softplus(-sign * logits).sum(-1)
    first = wrong.int().argmax(dim=1, keepdim=True)
    return (per_position.gather(1, first).squeeze(1) * wrong.any(dim=1)).sum() / len(target)


def masked_ce_loss(
    logits: Tensor, target: Tensor, mask: Tensor, wrong: Tensor | None = None
) -> Tensor:
    """Plain cross-entropy, averaged over every masked (valid) position (``wrong`` unused)."""
    ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    return (ce * mask).sum() / mask.sum()


LOSS_FUNCTIONS = {
    "first_error": first_error_loss,
    "first_error_sign": first_error_sign_loss,
    "ce": masked_ce_loss,
}


def answer_accuracy(logits: Tensor, rollouts: Rollouts) -> float:
    """Fraction of episodes whose argmax at the answer step equals the answer."""
    rows = torch.arange(len(rollouts), device=logits.device)
    steps = torch.as_tensor(rollouts.lengths - 1, device=logits.device)
    answers = torch.as_tensor(rollouts.answers, device=logits.device)
    return (logits[rows, steps].argmax(-1) == answers).float().mean().item()


def batch_seed(seed: int, stream: int, step: int, draw: int = 0) -> int:
    """Seed of the batch drawn at ``step`` of the ``stream`` (training or held-out) of a run,
    or of its ``draw``-th batch where a step draws several."""
    entropy = [seed, stream, step, *([draw] if draw else [])]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def to_tensors(rollouts: Rollouts, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``act``, ``target``, ``mask`` as tensors on ``device``."""
    return tuple(
        torch.as_tensor(a, device=device) for a in (rollouts.act, rollouts.target, rollouts.mask)
    )


def curriculum_kwargs(config: TrainConfig, step: int) -> dict[str, Any]:
    """Env kwargs for the batch at ``step``: the env's own, or a shorter ``n_range`` early on."""
    if config.curriculum_steps <= 0:
        return config.env_kwargs
    task = memgym_task(config.env_id, **config.env_kwargs)
    if task is None:
        raise ValueError(f"the length curriculum needs a memgym env, got {config.env_id!r}")
    fraction = min(1.0, (step + 1) / config.curriculum_steps)
    n_max = round(task.n_min + fraction * (task.n_max - task.n_min))
    return {**task.params, "n_range": (task.n_min, n_max)}


def vocab_sizes(env_id: str, env_kwargs: dict[str, Any]) -> tuple[int, int]:
    """Numbers of act and obs tokens of an env."""
    probe = batch_rollouts(env_id, 1, seed=0, **env_kwargs)
    return len(probe.act_tokens), len(probe.obs_tokens)


def make_model(config: TrainConfig) -> nn.Module:
    """A freshly initialised model for ``config`` (call after seeding torch)."""
    num_act, num_obs = vocab_sizes(config.env_id, config.env_kwargs)
    model = build_model(
        config.model,
        {
            "num_act_tokens": num_act,
            "num_obs_tokens": num_obs,
            "state_dim": config.state_dim or state_dim_for(config.env_id, config.env_kwargs),
            "param_noise": config.param_noise,
            "init_std": config.init_std,
            "scan": config.scan,
        },
    )
    model.training_init_(config.init_keep)
    return model


def check_automaton(model: nn.Module, config: TrainConfig) -> str | None:
    """How the thresholded automaton of ``model`` was found right on ``config``'s task, or None
    where it is not: a sampled check with :data:`QUICK_CHECK`'s budgets rejects most wrong
    automata fast; one that passes is proved against the task's every-length reference machine
    (:func:`agents.extract.prove`), ``"proof"``, or, where there is no reference machine or
    the product outgrows the proof's budget, checked by the full sampled check of
    :func:`agents.extract.verify`, ``"sampled check"``."""
    automaton = Automaton.from_model(model)
    env = (config.env_id, config.env_kwargs)
    if not verify(automaton, *env, **QUICK_CHECK).verified:
        return None
    machine = proof_reference(config.env_id, json.dumps(config.env_kwargs, sort_keys=True))
    if machine is not None:
        proof = prove(automaton, machine)
        if proof.status != "budget exceeded":
            return "proof" if proof.proved else None
    return "sampled check" if verify(automaton, *env).verified else None


@functools.lru_cache(maxsize=8)
def proof_reference(env_id: str, env_kwargs_json: str) -> ReferenceMachine | None:
    """The task's every-length reference machine (``memgym.reference``), or None for a task
    that has none (not a memgym id) or one too large to build; cached per task."""
    try:
        return reference(env_id, every_length=True, **json.loads(env_kwargs_json))
    except ValueError:
        return None


def refine(
    model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig, state: TrainState
) -> str | None:
    """Check the thresholded automaton of ``model`` (:func:`check_automaton`); where it is not
    right, rewire dormant bits (:func:`resample`) from fresh episodes and every counterexample
    found so far (:func:`shortest_counterexample`), and check again, for at most
    :data:`REFINE_ROUNDS` rounds or until a round rewires nothing. The rewirings are added to
    ``state.resamples``, and the step to ``state.resampled_at`` (once: every round reads the
    same episodes, :func:`resampling_rollouts`, and one :class:`MergeLadder`) with the
    ladder's draws to ``state.merge_draws``; returns how the automaton was found right, or
    None."""
    generator = torch.Generator().manual_seed(batch_seed(config.seed, RESAMPLE_STREAM, state.step))
    counterexamples: list[tuple[np.ndarray, np.ndarray]] = []
    episodes = None  # the check's episodes, drawn once for all its rounds
    ladder = MergeLadder(config, state.step)
    verified_by = None
    for _ in range(REFINE_ROUNDS):
        verified_by = check_automaton(model, config)
        if verified_by:
            break
        found = shortest_counterexample(model, config)
        counterexamples += [] if found is None else [found]
        if episodes is None:
            episodes = resampling_rollouts(config, state.step)
        done = resample(
            model, optimizer, config, state.step, counterexamples, generator, episodes, ladder
        )
        state.resamples += done
        if not done:
            break
    if episodes is not None:
        state.resampled_at.append(state.step)
        state.merge_draws.append(ladder.draws)
    return verified_by


def resample(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    step: int,
    counterexamples: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    generator: torch.Generator | None = None,
    episodes: Rollouts | None = None,
    ladder: MergeLadder | None = None,
) -> list[dict[str, int]]:
    """Rewire dormant bits (:mod:`agents.resample`) from ``episodes`` (default: those of
    :func:`resampling_rollouts`) and the ``counterexamples`` (episodes as act ids and targets,
    int ``(L,)`` each, appended as rows of the batch), the state merging reading the batches
    of ``ladder`` (default: a fresh :class:`MergeLadder`), drawing its choices from
    ``generator`` (default: one seeded by the run's seed and ``step``). Returns the rewirings
    as dicts."""
    if episodes is None:
        episodes = resampling_rollouts(config, step)
    shown = [
        dataclasses.replace(
            episodes,
            act=stream[None],
            target=outputs[None],
            mask=np.ones((1, len(stream)), dtype=bool),
            lengths=np.array([len(stream)]),
        )
        for stream, outputs in counterexamples
    ]
    episodes = stack_rollouts(episodes, *shown)
    device = next(model.parameters()).device
    ladder = ladder or MergeLadder(config, step)
    if generator is None:
        generator = torch.Generator().manual_seed(batch_seed(config.seed, RESAMPLE_STREAM, step))
    done = resample_dormant_bits(
        model,
        optimizer,
        *to_tensors(episodes, device),
        generator,
        step,
        ladder.batches(episodes, device),
    )
    return [dataclasses.asdict(r) for r in done]


def resampling_rollouts(config: TrainConfig, step: int) -> Rollouts:
    """The ``resample_episodes`` fresh episodes of the task a resampling at ``step`` reads,
    seeded by the run's seed and ``step``."""
    return batch_rollouts(
        config.env_id,
        config.resample_episodes,
        batch_seed(config.seed, RESAMPLE_BATCH_STREAM, step),
        **curriculum_kwargs(config, step - 1),
    )


def merge_rollouts(config: TrainConfig, step: int, draw: int = 0) -> Rollouts | None:
    """The ``draw``-th batch of episodes of every length (:func:`every_length_rollouts`) of
    the :class:`MergeLadder` of a check at ``step``: ``MERGE_EPISODES * 2**draw`` episodes,
    seeded by the run's seed, ``step`` and ``draw``; None for an env that is not a memgym
    task."""
    seed = batch_seed(config.seed, MERGE_BATCH_STREAM, step, draw)
    return every_length_rollouts(config.env_id, config.env_kwargs, MERGE_EPISODES << draw, seed)


@dataclass
class MergeLadder:
    """The batches the state merging of one check reads, in turn, until one merges into a
    machine within the model's bits (:func:`agents.resample.resample_dormant_bits`): the
    resampling's episodes with :data:`MERGE_EPISODES` episodes of every length
    (:func:`merge_rollouts`), then with twice as many, and so on while a batch holds at most
    :data:`MERGE_TOKENS` act tokens of every length.

    RPNI learns the task's machine once its batch holds a characteristic sample, and on a
    sparser one may need more states than the model has bits: AutomatonHard's 128-state
    machine (136 states with the answers) merged from 131,072 episodes of every length, and
    from neither 16,384 nor 65,536 (more than 272 states). Only the first round of a check
    that reaches the merge climbs; its later rounds read the first batch with their added
    counterexample, so a merge that no batch allows costs one climb a check. ``draws``
    counts the batches of every length drawn so far (each a fresh draw)."""

    config: TrainConfig
    step: int
    draws: int = 0

    def batches(
        self, episodes: Rollouts, device: torch.device
    ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """``act``, ``target``, ``mask`` of each batch of the ladder on ``episodes``, drawn as
        they are asked for; just ``episodes`` for an env that is not a memgym task."""
        climb = self.draws == 0
        for draw in itertools.count():
            every_length = merge_rollouts(self.config, self.step, draw)
            if every_length is None:
                yield to_tensors(episodes, device)
                return
            self.draws = max(self.draws, draw + 1)
            yield to_tensors(stack_rollouts(episodes, every_length), device)
            if not climb or 2 * int(every_length.mask.sum()) > MERGE_TOKENS:
                return


def stack_rollouts(first: Rollouts, *others: Rollouts) -> Rollouts:
    """The rows of ``first`` and then of ``others`` (the same tokens) in one batch, each padded
    on the right with zeros (``mask`` False) to the widest."""
    if not others:
        return first
    parts = (first, *others)
    width = max(part.act.shape[1] for part in parts)

    def stacked(name: str) -> np.ndarray:
        rows = [getattr(part, name) for part in parts]
        return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows])

    return dataclasses.replace(
        first,
        act=stacked("act"),
        target=stacked("target"),
        mask=stacked("mask"),
        lengths=np.concatenate([part.lengths for part in parts]),
    )


def every_length_rollouts(
    env_id: str, env_kwargs: dict[str, Any], episodes: int, seed: int
) -> Rollouts | None:
    """``episodes`` fresh episodes of the task with every payload length from the shortest it
    allows (``Task.shortest_n``) to its ``n_max``: an equal share with ``n`` uniform in each
    doubling range ``[shortest_n, shortest_n + 2^k - 1]``, so that every length below ``n_min``
    is drawn too and short ones are dense. None for an env that is not a memgym task.

    State merging needs them (RPNI's characteristic sample: the short streams that reach each
    state and the suffixes that tell states apart, Oncina & García 1992). At the task's own
    lengths every answer lies ``n_min`` or more tokens deep, where no two sampled episodes
    share a suffix: RPNI merged ModCountHard (modulus 7, ``n`` from 64) into 1,114 states,
    and into 14 from these."""
    task = memgym_task(env_id, **env_kwargs)
    if task is None:
        return None
    shortest = task.shortest_n
    ranges = [
        (shortest, min(shortest + 2**k - 1, task.n_max))
        for k in range(math.ceil(math.log2(task.n_max - shortest + 1)) + 1)
    ]
    rng = np.random.default_rng(seed)
    parts = [
        batch_rollouts(
            env_id, size, int(rng.integers(2**63)), **{**task.params, "n_range": n_range}
        )
        for size, n_range in zip(_shares(episodes, len(ranges)), ranges, strict=True)
        if size > 0
    ]
    return stack_rollouts(*parts)


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal counts."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def shortest_counterexample(
    model: nn.Module, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray] | None:
    """A shortest act stream on which the thresholded automaton of ``model`` and the task's
    every-length reference machine differ (:func:`agents.extract.prove`, at most
    :data:`COUNTEREXAMPLE_STATES` product states), with the reference's outputs after each
    token: int64 ``(L,)`` each. None where the task has no reference machine, the search
    outgrows its budget, or they do not differ."""
    machine = proof_reference(config.env_id, json.dumps(config.env_kwargs, sort_keys=True))
    if machine is None:
        return None
    proof = prove(Automaton.from_model(model), machine, COUNTEREXAMPLE_STATES)
    if proof.stream is None:
        return None
    act = np.array([proof.stream], dtype=np.int64)
    return act[0], machine.run(act)[0]


def train(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a predictor as ``config`` says; checkpoints go to ``out_dir/checkpoint``.

    With ``resume``, training continues from ``out_dir/checkpoint`` (weights, optimizer and
    RNG state, step and curves), so an interrupted run ends with the same weights as an
    uninterrupted one; a run that stopped on a verified automaton is done, and resuming it
    trains no step and leaves its weights as they were. Raises
    :class:`~agents.errors.CheckpointError` when there is no checkpoint, or when it is another
    run's or corrupt (:func:`agents.checkpoint.restore_training`).
    """
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    model = make_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr or model.default_lr)
    heldout = batch_rollouts(
        config.env_id,
        config.eval_episodes,
        batch_seed(config.seed, HELDOUT_STREAM, 0),
        **config.env_kwargs,
    )
    heldout_act = torch.as_tensor(heldout.act, device=device)
    base_loss = LOSS_FUNCTIONS[config.loss]
    checkpoint = Path(out_dir) / CHECKPOINT_DIR if out_dir is not None else None
    verifiable = model.hardens and memgym_task(config.env_id, **config.env_kwargs) is not None

    state = TrainState()
    if resume:
        if checkpoint is None or not checkpoint.exists():
            raise CheckpointError(f"cannot resume: there is no checkpoint at {checkpoint}")
        saved = restore_training(
            checkpoint,
            model,
            optimizer,
            config=dataclasses.asdict(config),
            defaults=dataclasses.asdict(TrainConfig()),
        )
        state = TrainState(**{k: v for k, v in saved.items() if k in TRAIN_STATE_FIELDS})

    def save() -> None:
        if checkpoint is not None:
            model_kind = config.model
            asdict = dataclasses.asdict
            save_checkpoint(checkpoint, model, model_kind, asdict(config), optimizer, asdict(state))

    started = time.perf_counter() - state.seconds
    last = state.step if state.verified_at is not None else config.steps  # a verified run is done
    bar = tqdm(range(state.step, last), disable=not progress, desc=config.env_id)
    for step in bar:
        batch = batch_rollouts(
            config.env_id,
            config.batch_size,
            batch_seed(config.seed, TRAIN_STREAM, step),
            **curriculum_kwargs(config, step),
        )
        act, target, mask = to_tensors(batch, device)
        if model.hardens and state.harden_from is None and step >= config.harden_start:
            state.harden_from = step
        hardening = state.harden_from is not None
        if hardening:
            ramp = (step - state.harden_from) / config.harden_ramp
            model.row_noise = config.harden_noise * min(1.0, ramp)
        model.train()
        logits = model(act)
        loss_fn = first_error_sign_loss if hardening else base_loss
        loss = loss_fn(logits, target, mask, model.misses(logits, target))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if hardening:
            model.prior_step_(optimizer.param_groups[0]["lr"] * config.harden_prior)

        state.step = step + 1
        state.loss.append(loss.item())
        state.accuracy.append(answer_accuracy(logits.detach(), batch))
        if state.step % config.eval_interval == 0 or state.step == config.steps:
            accuracy = evaluate_heldout(model, heldout_act, heldout)
            state.eval_steps.append(state.step)
            state.eval_accuracy.append(accuracy)
            if accuracy == 1.0 and state.steps_to_perfect is None:
                state.steps_to_perfect = state.step
                state.seconds_to_perfect = time.perf_counter() - started
                if model.hardens and state.harden_from is None:
                    state.harden_from = state.step
            bar.set_postfix(loss=f"{loss.item():.4f}", heldout=f"{accuracy:.4f}")
        if (
            hardening
            and verifiable
            and (state.step - state.harden_from) % config.check_interval == 0
        ):
            model.eval()
            verified_by = refine(model, optimizer, config, state)
            if verified_by:
                state.verified_at, state.verified_by = state.step, verified_by
                state.seconds_to_verified = time.perf_counter() - started
        state.seconds = time.perf_counter() - started
        if state.verified_at is not None:
            break
        if checkpoint is not None and state.step % config.checkpoint_interval == 0:
            save()
    bar.close()
    model.eval()
    save()
    return TrainResult(**dataclasses.asdict(state), model=model, config=config)


TRAIN_STATE_FIELDS = {f.name for f in dataclasses.fields(TrainState)}


def evaluate_heldout(model: nn.Module, heldout_act: Tensor, heldout: Rollouts) -> float:
    """Answer accuracy of ``model`` (in eval mode) on the held-out batch."""
    model.eval()
    with torch.no_grad():
        return answer_accuracy(model(heldout_act), heldout)
