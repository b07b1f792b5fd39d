"""Train a next-obs predictor on supervised rollouts of a memgym env.

One readable loop for every model kind (the boolean RNN, GRU, LSTM): draw a batch with
``memgym.batch_rollouts`` (seeded by the run's seed and the step, so a run is reproducible and
resumes exactly), predict every ``target[:, t]`` from ``act[:, :t+1]``, take an Adam step on the
first-error loss or plain cross-entropy, and now and then measure answer accuracy on a fixed
held-out batch and write a checkpoint.

Hardening (``harden_steps > 0``, boolean RNN only): once the held-out batch is first answered
100% right, or at step ``harden_start`` at the latest (by default ``harden_steps`` before the
end of the budget), training goes on for ``harden_steps`` steps with the sign loss while a row
noise (:func:`agents.ops.boolean.shift_rows`) ramps up from 0 to ``harden_noise``; then the run
stops. ``steps`` caps the whole run, hardening included. Budgets that contradict this are
refused: ``harden_start >= steps``, ``harden_steps >= steps`` without a ``harden_start`` (the
latest start would be step 0 or before, not after the first 100%), and ``harden_start``
without ``harden_steps``.
A soft model that is right by magnitudes or by many weak terms adding up is not right under
that noise, so it moves to sparse rows with large margins, which is what thresholding keeps: on
RepeatEasy the thresholded automaton went from about 25% of answers to verifying exactly, and
runs stuck below 100% got out of their plateau. ``harden_prior`` adds :func:`keep_prior`, which
pulls every transition the data does not ask for back to "keep": a counter then also keeps its
count over zeros it never saw in training (CountEasy at 10× length: the automaton's answers went
from 89% to 100%); with ``prior_decoupled`` it is a step of its own after Adam's
(:func:`decoupled_prior_step`). ``resample_interval`` rewires, every so many hardening steps, a
state bit the model does not use for each output the thresholded automaton names where it
should not, and with ``resample_successors`` also, for each output it misses, an answer bit or
a successor of the bit it lost, with ``resample_delays`` an answer bit or a delay line from the
token read a fixed number of steps before, and with ``resample_latches`` a latch of a token read
at any step before (:mod:`agents.resample`).
"""

from __future__ import annotations

import dataclasses
import math
import time
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
from agents.model import BooleanRNN
from agents.ops.boolean import bound_parameter
from agents.ops.scan import METHODS as SCAN_METHODS
from agents.resample import Resample, resample_dormant_bits
from memgym import Rollouts, batch_rollouts, memgym_task

LOSSES = ("first_error", "first_error_sign", "ce")
TRAIN_STREAM, HELDOUT_STREAM, RESAMPLE_STREAM, RESAMPLE_BATCH_STREAM = 0, 1, 2, 3
HARDEN_RAMP = 0.7
"""Fraction of the hardening steps over which the row noise ramps up (then it stays)."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in its checkpoints)."""

    env_id: str = "memgym/RememberEasy-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    model: str = "boolean"  # "boolean" | "gru" | "lstm"
    state_dim: int = 16
    steps: int = 2000
    batch_size: int = 64
    lr: float = 0.1
    param_noise: float = 1.5  # σ of the boolean RNN's parameter noise (ignored by baselines)
    init_std: float = 2.0  # the boolean RNN's init scale
    init_diag: float = 16.0  # > 0: start the boolean RNN's A_i near "keep every bit" (keep_init_)
    loss: str = "first_error"  # "first_error" | "first_error_sign" | "ce"
    init_shift: float = 0.0  # > 0: also seed a cyclic shift in every A_i (shift_init_)
    curriculum_steps: int = 0  # > 0: widen n_max linearly from n_min over this many steps
    seed: int = 0
    device: str = "cpu"
    scan: str = "auto"  # the boolean RNN's scan method (agents.ops.scan; ignored by baselines)
    eval_interval: int = 50
    eval_episodes: int = 1000
    stop_after_perfect: int = 0  # > 0: stop once this many evals in a row were 100% (no hardening)
    harden_steps: int = 0  # > 0: steps of hardening at the end of the run (see module doc)
    harden_start: int | None = None  # latest step hardening starts (None: steps - harden_steps)
    harden_noise: float = 8.0  # σ of the row noise that hardening ramps up to
    harden_prior: float = 0.0  # weight of keep_prior in the hardening loss
    prior_decoupled: bool = False  # apply keep_prior as a step of its own, outside Adam
    resample_interval: int = 0  # > 0: while hardening, rewire dormant bits every this many steps
    resample_successors: bool = False  # resampling also grows successor bits for missed outputs
    resample_delays: bool = False  # resampling also grows delay lines for missed outputs
    resample_latches: bool = False  # resampling also grows latches for missed outputs
    resample_episodes: int = 0  # > 0: resample from that many fresh episodes (0: the batch)
    checkpoint_interval: int = 500

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.scan not in SCAN_METHODS:
            raise ValueError(f"scan must be one of {SCAN_METHODS}, got {self.scan!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if min(self.steps, self.batch_size, self.state_dim, self.eval_interval) < 1:
            raise ValueError("steps, batch_size, state_dim and eval_interval must be positive")
        non_negative = (
            self.harden_steps,
            self.harden_noise,
            self.harden_prior,
            self.resample_interval,
            self.resample_episodes,
        )
        if min(non_negative) < 0:
            raise ValueError(
                "harden_steps, harden_noise, harden_prior, resample_interval and "
                "resample_episodes must not be negative"
            )
        if self.harden_start is not None and self.harden_start < 0:
            raise ValueError(f"harden_start must not be negative, got {self.harden_start}")
        self._check_harden_budget()
        if self.prior_decoupled and self.harden_prior == 0:
            raise ValueError("prior_decoupled needs harden_prior > 0")
        for name in ("resample_successors", "resample_delays", "resample_latches"):
            if getattr(self, name) and self.resample_interval == 0:
                raise ValueError(f"{name} needs resample_interval > 0")
        if (self.harden_steps > 0 or self.resample_interval > 0) and self.model != "boolean":
            raise ValueError(
                f"hardening and resampling are for the boolean RNN, not {self.model!r}"
            )

    def _check_harden_budget(self) -> None:
        """Refuse hardening settings that cannot do what they say within ``steps``."""
        if self.harden_start is not None and self.harden_steps == 0:
            raise ValueError(
                f"harden_start={self.harden_start} needs harden_steps > 0 (it says when "
                "hardening starts at the latest)"
            )
        if self.harden_steps == 0:
            return
        if self.harden_start is not None and self.harden_start >= self.steps:
            raise ValueError(
                f"harden_start={self.harden_start} must be below steps={self.steps}: the run "
                "ends before it"
            )
        if self.harden_start is None and self.harden_steps >= self.steps:
            raise ValueError(
                f"harden_steps={self.harden_steps} must be below steps={self.steps}: hardening "
                "starts at the first 100% held-out eval or, at the latest, harden_steps before "
                f"the end of steps, here step {self.steps - self.harden_steps}; give more "
                "steps, fewer harden_steps, or a harden_start below steps"
            )

    @property
    def latest_harden_start(self) -> int:
        """The step hardening starts at if no held-out eval was 100% before it: ``harden_start``,
        by default ``steps - harden_steps`` (so that hardening ends within the budget)."""
        return self.steps - self.harden_steps if self.harden_start is None else self.harden_start


@dataclass
class TrainResult:
    """What a run produced: the model, its learning curves, and when it reached 100%."""

    model: nn.Module
    config: TrainConfig
    loss: list[float]  # training loss at each step
    accuracy: list[float]  # answer accuracy on each training batch
    eval_steps: list[int]  # steps after which the held-out batch was scored
    eval_accuracy: list[float]  # held-out answer accuracy at those steps
    steps_to_perfect: int | None  # first step count with 100% held-out answer accuracy
    seconds_to_perfect: float | None  # training wall-clock time when that happened
    seconds: float  # total training wall-clock time (over resumes too)
    harden_from: int | None = None  # step at which hardening began (None: it did not)
    resamples: list[dict[str, int]] = field(default_factory=list)  # dormant bits rewired


def first_error_loss(
    logits: Tensor, target: Tensor, mask: Tensor, wrong: Tensor | None = None
) -> Tensor:
    """The note's first-error loss: per sequence, cross-entropy at its first wrong prediction.

    ``wrong`` (bool ``(B, T)``) marks the wrong predictions; by default a position is wrong
    when the argmax of ``logits`` is not the target; for the boolean RNN the loop passes
    :func:`misses`, the criterion of the extracted automaton (:mod:`agents.extract`). Only
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
    :func:`misses`), even when the argmax is already right. Cross-entropy alone is blind to a
    shift of all logits, so a position where several outputs are true but the target's is the
    largest gives it almost no gradient, and that position, being the first miss, hides every
    later mistake of the sequence from the loss.
    """
    if wrong is None:
        wrong = logits.argmax(-1) != target
    wrong = wrong & mask
    ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    sign = 2 * F.one_hot(target, logits.shape[-1]).to(logits.dtype) - 1
    per_position = ce + F.softplus(-sign * logits).sum(-1)
    first = wrong.int().argmax(dim=1, keepdim=True)
    return (per_position.gather(1, first).squeeze(1) * wrong.any(dim=1)).sum() / len(target)


LOSS_FUNCTIONS = {"first_error": first_error_loss, "first_error_sign": first_error_sign_loss}


def masked_ce_loss(
    logits: Tensor, target: Tensor, mask: Tensor, wrong: Tensor | None = None
) -> Tensor:
    """Plain cross-entropy, averaged over every masked (valid) position (``wrong`` unused)."""
    ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    return (ce * mask).sum() / mask.sum()


def keep_prior(model: BooleanRNN) -> Tensor:
    """How far the ``A_i`` are from "every bit keeps itself and feeds no other":
    ``Σ relu(m - s·A)`` over the bounded entries, ``s = +1`` on the diagonal and ``-1`` off it,
    margin ``m = log D + 2`` (a soft OR of D entries at ``-m`` stays below ``-2``)."""
    A = bound_parameter(model.A)
    D = A.shape[-1]
    sign = 2 * torch.eye(D, dtype=A.dtype, device=A.device) - 1
    return torch.relu(math.log(D) + 2 - sign * A).sum()


def decoupled_prior_step(model: BooleanRNN, rate: float) -> None:
    """Move the ``A_i`` down the gradient of :func:`keep_prior` by ``rate`` times it, outside
    Adam, as AdamW decays weights. Through Adam the prior's gradient is divided by each entry's
    own gradient scale, so an entry the data rarely touches (a link of a rare count) is pulled at
    nearly the full learning rate between the batches that hold it."""
    (grad,) = torch.autograd.grad(keep_prior(model), model.A)
    with torch.no_grad():
        model.A.sub_(rate * grad)


def misses(logits: Tensor, target: Tensor) -> Tensor:
    """Bool ``(B, T)``: the boolean readout does not name exactly the target (the target's
    logit is not positive, or another one is)."""
    return ((logits > 0) != F.one_hot(target, logits.shape[-1]).bool()).any(-1)


def answer_accuracy(logits: Tensor, rollouts: Rollouts) -> float:
    """Fraction of episodes whose argmax at the answer step equals the answer."""
    rows = torch.arange(len(rollouts), device=logits.device)
    steps = torch.as_tensor(rollouts.lengths - 1, device=logits.device)
    answers = torch.as_tensor(rollouts.answers, device=logits.device)
    return (logits[rows, steps].argmax(-1) == answers).float().mean().item()


def batch_seed(seed: int, stream: int, step: int) -> int:
    """Seed of the batch drawn at ``step`` of the ``stream`` (training or held-out) of a run."""
    return int(np.random.SeedSequence([seed, stream, step]).generate_state(1)[0])


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


def keep_init_(model: BooleanRNN, diag: float, std: float) -> None:
    """Re-draw every ``A_i`` as ``N(-diag/2, std) + diag·I``: each bit starts by keeping itself.

    The off-diagonal mean ``-diag/2`` must lie well below ``-log D`` (a soft OR of D "false"
    terms at ``-a`` is about ``log D - a``), or every state bit soon turns true and the model
    forgets; the diagonal ``+diag/2`` lets a bit hold its value over long waits from the start,
    so gradients reach the first token of a long episode.
    """
    with torch.no_grad():
        eye = torch.eye(model.state_dim, device=model.A.device)
        model.A.copy_(torch.randn_like(model.A) * std - diag / 2 + diag * eye)


def shift_init_(model: BooleanRNN, shift: float) -> None:
    """Add ``shift`` to the entries ``A_i[d+1, d]`` (cyclic) of every ``A_i``: bit d feeds bit
    d+1, so each token starts as "keep and shift". A unary counter needs a token that moves a
    single true bit one place on; from the keep-every-bit start alone it is hard to find
    (CountEasy stayed at about 80%), and the first-error loss removes the shift wherever it
    is not wanted."""
    with torch.no_grad():
        D = model.state_dim
        rows = torch.arange(D, device=model.A.device)
        model.A[:, (rows + 1) % D, rows] += shift


def make_model(config: TrainConfig) -> nn.Module:
    """A freshly initialised model for ``config`` (call after seeding torch)."""
    num_act, num_obs = vocab_sizes(config.env_id, config.env_kwargs)
    model_config: dict[str, Any] = {
        "num_act_tokens": num_act,
        "num_obs_tokens": num_obs,
        "state_dim": config.state_dim,
    }
    if config.model == "boolean":
        model_config |= {
            "param_noise": config.param_noise,
            "init_std": config.init_std,
            "scan": config.scan,
        }
    model = build_model(config.model, model_config)
    if config.model == "boolean" and config.init_diag > 0:
        keep_init_(model, config.init_diag, config.init_std)
    if config.model == "boolean" and config.init_shift > 0:
        shift_init_(model, config.init_shift)
    return model


def resample(
    model: BooleanRNN,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    step: int,
    batch: tuple[Tensor, Tensor, Tensor],
) -> list[Resample]:
    """Rewire dormant bits (:mod:`agents.resample`) from the training ``batch`` (``act``,
    ``target``, ``mask``) or, with ``resample_episodes``, from that many fresh episodes, with a
    generator seeded by the run's seed and ``step``."""
    if config.resample_episodes:
        episodes = batch_rollouts(
            config.env_id,
            config.resample_episodes,
            batch_seed(config.seed, RESAMPLE_BATCH_STREAM, step),
            **curriculum_kwargs(config, step - 1),
        )
        batch = to_tensors(episodes, batch[0].device)
    generator = torch.Generator().manual_seed(batch_seed(config.seed, RESAMPLE_STREAM, step))
    return resample_dormant_bits(
        model,
        optimizer,
        *batch,
        generator,
        step=step,
        successors=config.resample_successors,
        delays=config.resample_delays,
        latches=config.resample_latches,
    )


def train(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a predictor as ``config`` says; checkpoints go to ``out_dir/checkpoint``.

    With ``resume``, training continues from ``out_dir/checkpoint`` (weights, optimizer and
    RNG state, step and curves), so an interrupted run ends with the same weights as an
    uninterrupted one; :class:`~agents.errors.CheckpointError` when there is none, or when it
    is another run's or corrupt (:func:`agents.checkpoint.restore_training`).
    """
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    model = make_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    heldout = batch_rollouts(
        config.env_id,
        config.eval_episodes,
        batch_seed(config.seed, HELDOUT_STREAM, 0),
        **config.env_kwargs,
    )
    heldout_act = torch.as_tensor(heldout.act, device=device)
    loss_fn = LOSS_FUNCTIONS.get(config.loss, masked_ce_loss)
    checkpoint = Path(out_dir) / CHECKPOINT_DIR if out_dir is not None else None

    state: dict[str, Any] = {
        "step": 0,
        "loss": [],
        "accuracy": [],
        "eval_steps": [],
        "eval_accuracy": [],
        "steps_to_perfect": None,
        "seconds_to_perfect": None,
        "seconds": 0.0,
        "perfect_streak": 0,
        "harden_from": None,
        "resamples": [],
    }
    if resume:
        if checkpoint is None or not checkpoint.exists():
            raise CheckpointError(f"cannot resume: there is no checkpoint at {checkpoint}")
        state = restore_training(
            checkpoint,
            model,
            optimizer,
            config=dataclasses.asdict(config),
            defaults=dataclasses.asdict(TrainConfig()),
        )
        state.setdefault("harden_from", None)  # checkpoints from before hardening existed
        state.setdefault("resamples", [])

    def save() -> None:
        if checkpoint is not None:
            save_checkpoint(
                checkpoint, model, config.model, dataclasses.asdict(config), optimizer, state
            )

    started = time.perf_counter() - state["seconds"]
    bar = tqdm(range(state["step"], config.steps), disable=not progress, desc=config.env_id)
    for step in bar:
        batch = batch_rollouts(
            config.env_id,
            config.batch_size,
            batch_seed(config.seed, TRAIN_STREAM, step),
            **curriculum_kwargs(config, step),
        )
        act, target, mask = to_tensors(batch, device)
        if (
            config.harden_steps > 0
            and state["harden_from"] is None
            and step >= config.latest_harden_start
        ):
            state["harden_from"] = step
        hardening = state["harden_from"] is not None
        if hardening:
            ramp = (step - state["harden_from"]) / (HARDEN_RAMP * config.harden_steps)
            model.row_noise = config.harden_noise * min(1.0, ramp)
        model.train()
        logits = model(act)
        wrong = misses(logits, target) if config.model == "boolean" else None
        loss = (first_error_sign_loss if hardening else loss_fn)(logits, target, mask, wrong)
        prior = hardening and config.harden_prior > 0
        if prior and not config.prior_decoupled:
            loss = loss + config.harden_prior * keep_prior(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if prior and config.prior_decoupled:
            decoupled_prior_step(model, config.lr * config.harden_prior)

        state["step"] = step + 1
        if hardening and config.resample_interval and state["step"] % config.resample_interval == 0:
            done = resample(model, optimizer, config, state["step"], (act, target, mask))
            state["resamples"] += [dataclasses.asdict(r) for r in done]
        state["loss"].append(loss.item())
        state["accuracy"].append(answer_accuracy(logits.detach(), batch))
        hardening_ends = hardening and state["step"] >= state["harden_from"] + config.harden_steps
        last = state["step"] == config.steps or hardening_ends
        if state["step"] % config.eval_interval == 0 or last:
            model.eval()
            with torch.no_grad():
                accuracy = answer_accuracy(model(heldout_act), heldout)
            state["eval_steps"].append(state["step"])
            state["eval_accuracy"].append(accuracy)
            state["perfect_streak"] = state["perfect_streak"] + 1 if accuracy == 1.0 else 0
            if accuracy == 1.0 and state["steps_to_perfect"] is None:
                state["steps_to_perfect"] = state["step"]
                state["seconds_to_perfect"] = time.perf_counter() - started
                if config.harden_steps > 0 and state["harden_from"] is None:
                    state["harden_from"] = state["step"]
            shown = {"loss": f"{loss.item():.4f}", "heldout": f"{accuracy:.4f}"}
            if hardening:
                shown["row_noise"] = f"{model.row_noise:.1f}"
            bar.set_postfix(shown)
        state["seconds"] = time.perf_counter() - started
        if checkpoint is not None and state["step"] % config.checkpoint_interval == 0:
            save()
        stop_early = 0 < config.stop_after_perfect <= state["perfect_streak"]
        if hardening_ends or (stop_early and state["harden_from"] is None):
            break
    bar.close()
    model.eval()
    save()
    return TrainResult(
        model=model,
        config=config,
        loss=state["loss"],
        accuracy=state["accuracy"],
        eval_steps=state["eval_steps"],
        eval_accuracy=state["eval_accuracy"],
        steps_to_perfect=state["steps_to_perfect"],
        seconds_to_perfect=state["seconds_to_perfect"],
        seconds=state["seconds"],
        harden_from=state["harden_from"],
        resamples=state["resamples"],
    )
