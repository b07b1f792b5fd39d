"""The automata learners of the field beside the boolean RNN, on the memgym presets.

For each preset this learns the task with each learner below and writes one JSON record
per (preset, learner, seed) under ``OUT/records/`` (atomically; a record that exists is
skipped unless ``--force``):

- ``rpni``: AALpy's RPNI (passive) from the episodes the boolean RNN of that seed read
  (``agents.train``'s batch seeds): its training batches (steps × batch size, at most
  ``--rpni-episodes``; when there is no boolean record yet, ``--rpni-episodes``) and the
  episodes of each of its resamplings (``agents.train.resampling_rollouts``: fresh episodes,
  and ``agents.train.merge_rollouts``: the batches of every length its merge ladder drew),
  every prefix of each episode labelled with its target. A
  run past ``--timeout`` seconds is recorded as not finished.
- ``lstar``: AALpy's L* (active), the system under learning the task's every-length reference
  machine (``memgym.reference(..., every_length=True)``), the equivalence oracle random walks
  from every state ending in a distinguishing suffix (``RandomWMethodEqOracle``), then valid
  episodes (:func:`episode_oracle`); its membership and equivalence queries are recorded.
  Same timeout.
- ``boolean``: the run of ``benchmarks/results.py`` on the preset and seed (``agents.train``
  with its defaults and the preset's step cap; the same run as its row of docs/results.md),
  read from its record (under ``--runs``, or kept in docs/runs), or trained by results.py
  where there is none: whether it stopped on a proof for every length
  (``agents.extract.prove``), the sampled check of its automaton, bits and states.
- ``gru``, ``lstm``: the same loop at the boolean RNN's state size, trained for the median
  wall-clock time of the preset's boolean RNN records (a short probe run sets the steps).

Each learned machine is scored on fresh episodes at 1×, 10× and 100× length (answer accuracy,
``agents.evaluate``), and RPNI's and L*'s machines are compared with the every-length reference
by a breadth-first search over their product on valid act streams ("equivalent": equal on
every valid episode of every length). RPNI and L* run once, on the first of ``--seeds``.
``docs/automata.md`` is rendered from every record found (those kept in ``docs/automata/``,
replaced by those under ``OUT/records/``).

    python benchmarks/automata.py --learners rpni lstar
    python benchmarks/automata.py --presets RememberEasy CountEasy --seeds 0 1 2
    python benchmarks/automata.py --presets RepeatHard --learners boolean
    python benchmarks/automata.py --render
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import cpu_description, env_id, merge_records
from torch import Tensor, nn

from agents.evaluate import evaluate
from agents.extract import MooreTable
from agents.train import (
    TRAIN_STREAM,
    TrainConfig,
    batch_seed,
    merge_rollouts,
    resampling_rollouts,
    train,
)
from agents.verify import EPISODE_END
from memgym import PRESETS, ReferenceMachine, Rollouts, batch_rollouts, memgym_task, reference
from memgym.machine import TooManyStates

ROOT = Path(__file__).resolve().parent.parent

LEARNERS = ("boolean", "gru", "lstm", "rpni", "lstar")
"""The learners, in the order they run (GRU and LSTM read the boolean RNN's records)."""
AALPY_LEARNERS = ("rpni", "lstar")
FACTORS = (1, 10, 100)
"""Length factors of the accuracy columns."""
PRESET_NAMES = [p.removeprefix("memgym/").removesuffix("-v0") for p in PRESETS]
DEFAULT_PRESETS = [
    name
    for name in PRESET_NAMES
    if (name.startswith(("Remember", "Count", "Repeat")) and not name.endswith("Hard"))
    or name in ("ModCountEasy", "AutomatonEasy")
    or name.startswith("Tomita")
]
"""Every Easy and Medium preset of Remember, Count and Repeat, ModCountEasy, Tomita1–7 and
AutomatonEasy; the others run on request."""
RPNI_EPISODES = 10_000
TIMEOUT = 900.0
WALKS_PER_STATE, WALK_LEN = 20, 20
"""L*'s equivalence oracle: random walks from each hypothesis state, and their length."""
ORACLE_EPISODES = 1000
"""Valid episodes L*'s equivalence oracle tries after the random walks."""
PROBE_STEPS = 20
"""Steps of the probe run that times a GRU or LSTM step."""


@dataclass(frozen=True)
class Job:
    """One learner on one preset."""

    preset: str
    learner: str
    seed: int
    rpni_episodes: int
    timeout: float  # seconds RPNI or L* may take
    command: str


# --- Moore machines as tables -----------------------------------------------------------------


def aalpy_table(machine: Any, act_tokens: Sequence[str], obs_tokens: Sequence[str]) -> MooreTable:
    """An ``aalpy.automata.MooreMachine`` whose inputs are act token ids and outputs obs token
    ids (None or −1: none shown) as a :class:`~agents.export.MooreTable` of token names; the
    transitions it lacks (RPNI learns only those its data shows) lead to a sink that shows
    none."""
    index = {id(state): i for i, state in enumerate(machine.states)}
    sink = len(machine.states)
    transitions = np.full((sink + 1, len(act_tokens)), sink, dtype=np.int64)
    outputs: list[str | None] = []
    for i, state in enumerate(machine.states):
        shown = state.output
        outputs.append(None if shown is None or shown < 0 else obs_tokens[shown])
        for token, target in state.transitions.items():
            transitions[i, token] = index[id(target)]
    return MooreTable(
        transitions, (*outputs, None), tuple(act_tokens), index[id(machine.initial_state)], sink
    )


class TablePredictor(nn.Module):
    """A :class:`~agents.export.MooreTable` as a predictor ``agents.evaluate`` scores:
    ``scan_states`` runs it on act ids ``(B, T)``, ``readout`` gives one-hot logits
    ``(B, V_obs + 1)`` of the obs tokens shown, the last column where none is (never an
    answer)."""

    def __init__(self, table: MooreTable, obs_tokens: Sequence[str]) -> None:
        super().__init__()
        self.table = table
        ids = {name: i for i, name in enumerate(obs_tokens)}
        self.outputs = np.array([ids.get(name, len(obs_tokens)) for name in table.outputs])
        self.num_act_tokens, self.num_obs_tokens = len(table.act_tokens), len(obs_tokens)

    def scan_states(self, act: Tensor) -> Tensor:
        act = act.cpu().numpy()
        states = np.empty(act.shape, dtype=np.int64)
        state = np.full(len(act), self.table.initial)
        for t in range(act.shape[1]):
            state = self.table.transitions[state, act[:, t]]
            states[:, t] = state
        return torch.from_numpy(states)

    def readout(self, states: Tensor) -> Tensor:
        shown = torch.from_numpy(self.outputs[states.numpy()])
        return nn.functional.one_hot(shown, self.num_obs_tokens + 1).float()


def equivalent(table: MooreTable, machine: ReferenceMachine) -> tuple[bool, int]:
    """Whether ``table`` shows the reference's obs token after every valid act stream, of any
    length: a breadth-first search over pairs (reference state, table state) from the initial
    pair, following the act tokens whose next reference state shows an output, except
    ``[end]`` (nothing is scored after an episode's answer). Returns ``(equal, pairs
    searched)``."""
    end = machine.act_tokens.index(EPISODE_END) if EPISODE_END in machine.act_tokens else -1
    start = (machine.initial, table.initial)
    seen, queue = {start}, deque([start])
    while queue:
        ref, state = queue.popleft()
        for token in range(machine.transitions.shape[1]):
            next_ref = int(machine.transitions[ref, token])
            if token == end or machine.outputs[next_ref] < 0:
                continue
            next_state = int(table.transitions[state, token])
            if table.outputs[next_state] != machine.obs_tokens[machine.outputs[next_ref]]:
                return False, len(seen)
            if (next_ref, next_state) not in seen:
                seen.add((next_ref, next_state))
                queue.append((next_ref, next_state))
    return True, len(seen)


def accuracy(
    model: nn.Module, env: str, env_kwargs: dict[str, Any] | None = None
) -> dict[str, float]:
    """Answer accuracy at :data:`FACTORS` (``agents.evaluate``'s episodes and seeds)."""
    result = evaluate(model, env, env_kwargs, factors=FACTORS)
    return {str(factor): value for factor, value in result.accuracy.items()}


def machine_report(
    machine: Any,
    env: str,
    env_kwargs: dict[str, Any],
    act_tokens: Sequence[str],
    obs_tokens: Sequence[str],
) -> dict[str, Any]:
    """A learned ``aalpy.automata.MooreMachine``'s states (its own, without the sink its
    missing transitions lead to), accuracy, and equivalence to the every-length reference
    (None where that is too large to build)."""
    table = aalpy_table(machine, act_tokens, obs_tokens)
    try:
        equal, pairs = equivalent(table, reference(env, every_length=True, **env_kwargs))
    except TooManyStates:
        equal, pairs = None, 0
    return {
        "states": len(machine.states),
        "accuracy": accuracy(TablePredictor(table, obs_tokens), env, env_kwargs),
        "equivalent": equal,
        "product_states": pairs,
    }


# --- RPNI and L* --------------------------------------------------------------------------------


def training_batches(
    env: str, episodes: int, seed: int, batch_size: int, env_kwargs: dict[str, Any]
) -> Iterable[Rollouts]:
    """The first ``ceil(episodes / batch_size)`` training batches ``agents.train`` draws for
    ``seed``, the last cut to ``episodes`` in all."""
    for step in range(math.ceil(episodes / batch_size)):
        seed_of_step = batch_seed(seed, TRAIN_STREAM, step)
        batch = batch_rollouts(env, batch_size, seed_of_step, **env_kwargs)
        keep = min(batch_size, episodes - step * batch_size)
        yield batch if keep == batch_size else _head(batch, keep)


def _head(rollouts: Rollouts, count: int) -> Rollouts:
    return Rollouts(
        rollouts.act[:count],
        rollouts.target[:count],
        rollouts.mask[:count],
        rollouts.lengths[:count],
        rollouts.act_tokens,
        rollouts.obs_tokens,
    )


def rpni_data(batches: Iterable[Rollouts]) -> list[tuple[tuple[int, ...], int]]:
    """RPNI's Moore data: ``(act ids of a prefix, its target)`` for every prefix of every
    episode (the ``t + 1`` first act tokens, labelled ``target[t]``), each prefix once."""
    data: dict[tuple[int, ...], int] = {}
    for batch in batches:
        for act, target, length in zip(
            batch.act.tolist(), batch.target.tolist(), batch.lengths.tolist(), strict=True
        ):
            for t in range(length):
                data[tuple(act[: t + 1])] = target[t]
    return list(data.items())


def rpni(
    env: str,
    episodes: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    resampled_at: Sequence[int] = (),
    merge_draws: Sequence[int] = (),
) -> dict[str, Any]:
    """RPNI from the first ``episodes`` episodes of the training batches ``agents.train`` draws
    for ``seed`` on ``env`` (``env_kwargs`` as ``gym.make``'s) and the episodes its
    resamplings at the steps ``resampled_at`` read (``agents.train.resampling_rollouts``, and
    ``merge_draws`` batches of ``agents.train.merge_rollouts`` each; one each where
    ``merge_draws`` is shorter: a run before the merge ladder drew one at each); the
    record's fields: seconds from the rollouts to the machine (building RPNI's data, its tree
    and its merges), episodes in all, distinct prefixes, and :func:`machine_report`'s."""
    from aalpy.learning_algs import run_RPNI

    env_kwargs = env_kwargs or {}
    config = TrainConfig(env_id=env, env_kwargs=env_kwargs, seed=seed)
    batches = list(training_batches(env, episodes, seed, config.batch_size, env_kwargs))
    draws = [*merge_draws, *[1] * (len(resampled_at) - len(merge_draws))]
    for step, drawn in zip(resampled_at, draws, strict=True):
        every_length = [merge_rollouts(config, step, draw) for draw in range(drawn)]
        batches += [resampling_rollouts(config, step), *filter(None, every_length)]
    started = time.perf_counter()  # from the rollouts: RPNI's data, its tree, its merges
    data = rpni_data(batches)
    machine = run_RPNI(data, automaton_type="moore", print_info=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "episodes": sum(len(batch) for batch in batches),
        "prefixes": len(data),
        **machine_report(machine, env, env_kwargs, batches[0].act_tokens, batches[0].obs_tokens),
    }


def learn_rpni(
    job: Job, resampled_at: Sequence[int] = (), merge_draws: Sequence[int] = ()
) -> dict[str, Any]:
    """:func:`rpni` on a job's preset, seed, episodes and resampling steps."""
    return rpni(
        env_id(job.preset),
        job.rpni_episodes,
        job.seed,
        resampled_at=resampled_at,
        merge_draws=merge_draws,
    )


def reference_sul(machine: ReferenceMachine) -> Any:
    """An ``aalpy.base.SUL`` that runs ``machine`` (inputs act ids, outputs obs ids, −1 where
    it shows none)."""
    from aalpy.base import SUL

    class ReferenceSUL(SUL):
        def pre(self) -> None:
            self.state = machine.initial

        def post(self) -> None:
            pass

        def step(self, letter: int | None) -> int:
            if letter is not None:
                self.state = int(machine.transitions[self.state, letter])
            return int(machine.outputs[self.state])

    return ReferenceSUL()


def lstar(env: str, seed: int = 0, env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """L* with the every-length reference of ``env`` (``env_kwargs`` as ``gym.make``'s) as
    the system under learning, ``seed`` seeding the oracle's walks; the record's fields:
    seconds, membership and equivalence queries, and :func:`machine_report`'s."""
    from aalpy.learning_algs import run_Lstar

    env_kwargs = env_kwargs or {}
    machine = reference(env, every_length=True, **env_kwargs)
    alphabet = list(range(len(machine.act_tokens)))
    sul = reference_sul(machine)
    random.seed(seed)  # the oracle's walks
    oracle = episode_oracle(alphabet, sul, env, seed, env_kwargs)
    started = time.perf_counter()
    learned, info = run_Lstar(
        alphabet, sul, oracle, automaton_type="moore", return_data=True, print_level=0
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "membership_queries": info["queries_learning"],
        "equivalence_queries": info["queries_eq_oracle"],
        "queries": info["queries_learning"] + info["queries_eq_oracle"],
        **machine_report(learned, env, env_kwargs, machine.act_tokens, machine.obs_tokens),
    }


def episode_oracle(
    alphabet: list[int], sul: Any, env: str, seed: int, env_kwargs: dict[str, Any]
) -> Any:
    """L*'s equivalence oracle: AALpy's random walks from every hypothesis state ending in a
    distinguishing suffix (``RandomWMethodEqOracle``), then, if they find no counterexample,
    :data:`ORACLE_EPISODES` fresh valid episodes of payload length ``n_min`` to ``2·n_max``
    (random walks seldom stay valid long enough to reach a long payload's answer). Each walk
    and each episode counts as one equivalence query."""
    from aalpy.base import Oracle
    from aalpy.oracles import RandomWMethodEqOracle

    n_min, n_max = memgym_task(env, **env_kwargs).params["n_range"]
    lengths = {**env_kwargs, "n_range": (n_min, 2 * n_max)}

    class EpisodeEqOracle(Oracle):
        def __init__(self) -> None:
            super().__init__(alphabet, sul)
            self.walks = RandomWMethodEqOracle(alphabet, sul, WALKS_PER_STATE, WALK_LEN)
            self.rounds = 0

        def find_cex(self, hypothesis: Any) -> tuple[int, ...] | None:
            found = self.walks.find_cex(hypothesis)
            self.num_queries, self.num_steps = self.walks.num_queries, self.walks.num_steps
            if found is not None:
                return found
            self.rounds += 1
            episodes = batch_rollouts(env, ORACLE_EPISODES, seed + 1000 * self.rounds, **lengths)
            for act, length in zip(episodes.act.tolist(), episodes.lengths.tolist(), strict=True):
                self.reset_hyp_and_sul(hypothesis)
                self.num_queries += 1
                self.walks.num_queries += 1
                for t in range(length):
                    self.num_steps += 1
                    if hypothesis.step(act[t]) != self.sul.step(act[t]):
                        return tuple(act[: t + 1])
            return None

    return EpisodeEqOracle()


def learn_lstar(job: Job) -> dict[str, Any]:
    """:func:`lstar` on a job's preset and seed."""
    return lstar(env_id(job.preset), job.seed)


def within(function: Callable[[Job], dict[str, Any]], job: Job) -> dict[str, Any]:
    """``function(job)`` in a child process; ``{"finished": False}`` when it takes longer
    than ``job.timeout`` seconds (the child is killed), with ``"skipped"`` (why) when it
    raised ``TooManyStates`` (no reference machine to learn from). Raises ``RuntimeError``
    with the child's error when it fails otherwise."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_send_outcome, args=(function, job, sender), daemon=True)
    child.start()
    sender.close()
    outcome = receiver.recv() if receiver.poll(job.timeout) else None
    child.kill()
    child.join()
    if outcome is None:
        return {"finished": False}
    kind, value = outcome
    if kind == "skipped":
        return {"finished": False, "skipped": value}
    if kind == "error":
        raise RuntimeError(f"{job.learner} on {job.preset} failed: {value}")
    return {"finished": True, **value}


def _send_outcome(function: Callable[[Job], dict[str, Any]], job: Job, sender: Any) -> None:
    try:
        sender.send(("ok", function(job)))
    except TooManyStates as error:
        sender.send(("skipped", str(error)))
    except Exception as error:  # sent to the parent, which raises it
        sender.send(("error", f"{type(error).__name__}: {error}"))


# --- the boolean RNN, GRU and LSTM --------------------------------------------------------------


def learn_boolean(job: Job, runs: Path) -> dict[str, Any]:
    """The boolean RNN on the preset and seed: the run of ``benchmarks/results.py`` (the same
    run as its row of docs/results.md, ``TrainConfig``'s defaults with the preset's step cap),
    read from its record under ``runs`` (results.py's ``--out``) or kept in docs/runs, and
    trained now by results.py (its record written under ``runs``) where there is none; the
    record's fields. ``proof`` is ``"proved"`` when the run stopped on a proof for every
    length (``agents.extract.prove``), else ``"not proved"``."""
    import results  # benchmarks/results.py, beside this script

    run = results.Job(
        preset=job.preset,
        model="boolean",
        steps=results.recipe(job.preset).steps,
        device="cpu",
        scan="auto",
        seed=job.seed,
        threads=1,
        command=job.command,
        resume=True,
    )
    path = results.record_path(runs, run)
    kept = ROOT / "docs" / "runs" / path.name
    if path.exists() or kept.exists():
        record = json.loads((path if path.exists() else kept).read_text())
    else:
        record = results.run_job(run, runs)
    steps = record["steps_trained"]
    return {
        "state_dim": record["state_dim"],
        "steps": steps,
        "episodes": steps * record["train_config"]["batch_size"],  # its training batches
        "resampled_at": record.get("resampled_at", []),  # (not kept before 2026-11-30)
        "merge_draws": record.get("merge_draws", []),  # (not kept before 2026-11-30)
        "seconds": record["seconds"],
        # a run that did not stop on its check but whose final automaton verified: its end
        "seconds_to_verified": record["seconds_to_verified"]
        or (record["seconds"] if record["automaton"]["verified"] else None),
        "accuracy": {str(f): record["accuracy"][str(f)] for f in FACTORS},
        "verified": record["automaton"]["verified"],
        "proof": "proved" if record["verified_by"] == "proof" else "not proved",
        "bits_used": record["automaton"]["bits_used"],
        "automaton_states": record["automaton"]["states"],
        "command": record["command"],
    }


def learn_baseline(job: Job, boolean_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """GRU or LSTM at the boolean RNN's state size for the median wall-clock time of its runs
    (``boolean_runs``, the preset's boolean records); the record's fields. Raises
    ``ValueError`` when there are none."""
    if not boolean_runs:
        raise ValueError(f"{job.learner} on {job.preset} needs the boolean RNN's records first")
    env = env_id(job.preset)
    state_dim = boolean_runs[0]["state_dim"]
    budget = statistics.median(run["seconds"] for run in boolean_runs)
    config = TrainConfig(env_id=env, seed=job.seed, model=job.learner, state_dim=state_dim)
    probe = train(replace(config, steps=PROBE_STEPS), progress=False)
    steps = max(1, round(budget * PROBE_STEPS / probe.seconds))
    result = train(replace(config, steps=steps), progress=False)
    return {
        "state_dim": state_dim,
        "budget_seconds": budget,
        "steps": steps,
        "seconds": result.seconds,
        "accuracy": accuracy(result.model, env),
    }


# --- records and the table ----------------------------------------------------------------------


def record_name(job: Job) -> str:
    """``CountEasy-rpni-seed0``."""
    return f"{job.preset}-{job.learner}-seed{job.seed}"


def record_path(out: Path, job: Job) -> Path:
    """Where a job's JSON goes."""
    return out / "records" / f"{record_name(job)}.json"


def read_records(out: Path, preset: str, learner: str) -> list[dict[str, Any]]:
    """The records under ``out`` of one preset and learner, every seed."""
    return [
        json.loads(path.read_text())
        for path in sorted((out / "records").glob(f"{preset}-{learner}-seed*.json"))
    ]


def run_job(job: Job, out: Path, runs: Path = ROOT / "runs" / "results") -> dict[str, Any]:
    """Run one job and write its record atomically; returns the record. ``runs``: where
    ``benchmarks/results.py`` keeps its records (the boolean RNN's runs, :func:`learn_boolean`)."""
    torch.set_num_threads(1)
    env = env_id(job.preset)
    if job.learner == "rpni":
        boolean = read_records(out, job.preset, "boolean")
        same_seed = [run for run in boolean if run["seed"] == job.seed]
        episodes = min([job.rpni_episodes, *(run["episodes"] for run in same_seed)])
        boolean_run = same_seed[0] if same_seed else {}
        learner = functools.partial(
            learn_rpni,
            resampled_at=boolean_run.get("resampled_at", []),
            merge_draws=boolean_run.get("merge_draws", []),
        )
        fields = within(learner, replace(job, rpni_episodes=episodes))
    elif job.learner == "lstar":
        fields = within(learn_lstar, job)
    elif job.learner == "boolean":
        fields = learn_boolean(job, runs)
    else:
        fields = learn_baseline(job, read_records(out, job.preset, "boolean"))
    try:
        sizes = [reference(env, every_length=True).num_states, reference(env).num_states]
    except TooManyStates:
        sizes = [None, None]
    record = {
        "preset": job.preset,
        "learner": job.learner,
        "seed": job.seed,
        "reference_states": sizes,
        "timeout": job.timeout,
        "command": job.command,
        "machine": machine_description(),
        "aalpy": importlib.metadata.version("aalpy"),
        "date": time.strftime("%Y-%m-%d"),
        **fields,
    }
    path = record_path(out, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return record


def machine_description() -> str:
    """The machine in words: CPU, cores, OS, Python."""
    return f"{cpu_description()}, {platform.system()} {platform.release()}"


def render(out: Path, docs: Path) -> Path:
    """Write ``docs/automata.md`` from every record (kept in ``docs/automata/``, replaced by
    those under ``out/records/``); returns its path."""
    by_row: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for record in merge_records(docs / "automata", out / "records"):
        by_row.setdefault(record["preset"], {}).setdefault(record["learner"], []).append(record)
    records = [r for learners in by_row.values() for runs in learners.values() for r in runs]
    commands = sorted({r["command"] for r in records})
    machines = sorted({r["machine"] for r in records})
    dates = sorted({r["date"] for r in records})
    aalpy = sorted({r["aalpy"] for r in records if "aalpy" in r})
    lines = [
        "# The automata learners beside the boolean RNN",
        "",
        "Each task learned as a Moore machine by the boolean RNN (`agents.train`, its defaults;",
        "proved: its automaton proved equal to the every-length reference by",
        "`agents.extract.prove`, verified: `agents.extract.verify`'s sampled check, out of the",
        "seeds run; median seconds to a verified automaton and bits used, over the verified",
        "runs), GRU and LSTM (same state size, trained for the boolean RNN's median wall-clock",
        "time), RPNI (AALpy, passive, from the episodes the boolean RNN of seed 0 read: its",
        "training batches, at most `--rpni-episodes`, by default",
        f"{RPNI_EPISODES:,}, and the episodes of each of its resamplings, fresh ones and",
        "the batches of every length its merge ladder drew, `agents.train.resampling_rollouts`",
        "and `agents.train.merge_rollouts`) and L* (AALpy, active: the",
        "every-length reference",
        "machine answers its membership queries; random walks from each hypothesis state ending",
        f"in a distinguishing suffix, then {ORACLE_EPISODES:,} valid episodes of up to twice the",
        "longest length, its equivalence queries). Reference states: the every-length reference",
        "machine (`memgym.reference(..., every_length=True)`), the bounded one in brackets.",
        "Accuracy: answers right on fresh episodes at 1×/10×/100× length (%; GRU and LSTM: their",
        "first seed). Equivalent: equal to the every-length reference on every valid act stream",
        "(a breadth-first search over their product), so right at every length.",
        "Rendered by `benchmarks/automata.py` from the records in [automata/](automata/).",
        "",
        "Commands: " + "; ".join(f"`{c}`" for c in commands),
        "",
        "Machine: "
        + "; ".join(machines)
        + ". AALpy "
        + ", ".join(aalpy)
        + ". Date: "
        + ", ".join(dates)
        + ".",
        "",
        "| preset | reference states | boolean RNN (proved, median s, bits) | GRU, LSTM acc "
        "| RPNI (s, states, acc 10×, equivalent?) | L* (s, queries, states, equivalent?) |",
        "|---|---|---|---|---|---|",
    ]
    for preset in [p for p in PRESET_NAMES if p in by_row]:
        learners = by_row[preset]
        any_record = next(iter(learners.values()))[0]
        every, bounded = any_record["reference_states"]
        sizes = "too many to build" if every is None else f"{every} ({bounded})"
        cells = [
            boolean_cell(learners.get("boolean", [])),
            ", ".join(
                f"{kind.upper()} {baseline_cell(learners.get(kind, []))}"
                for kind in ("gru", "lstm")
            ),
            rpni_cell(learners.get("rpni", [])),
            lstar_cell(learners.get("lstar", [])),
        ]
        lines.append(f"| {preset} | {sizes} | " + " | ".join(cells) + " |")
    docs.mkdir(parents=True, exist_ok=True)
    path = docs / "automata.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def percents(record: dict[str, Any], factors: Sequence[int] = FACTORS) -> str:
    """``100/100/96.5``: answer accuracy (%) at the factors."""
    return "/".join(f"{100 * record['accuracy'][str(f)]:.4g}" for f in factors)


def boolean_cell(runs: list[dict[str, Any]]) -> str:
    """``3/3 proved (3 verified), 41 s, 9 bits``: proofs and sampled checks of the seeds run,
    median seconds to a verified automaton and bits used over the verified runs."""
    if not runs:
        return "not run"
    verified = [run for run in runs if run["verified"]]
    proved = sum(run["proof"] == "proved" for run in runs)
    cell = f"{proved}/{len(runs)} proved ({len(verified)} verified)"
    if verified:
        seconds = statistics.median(run["seconds_to_verified"] for run in verified)
        bits = statistics.median(run["bits_used"] for run in verified)
        cell += f", {duration(seconds)}, {bits:g} bits"
    return cell


def baseline_cell(runs: list[dict[str, Any]]) -> str:
    """Accuracy of the first seed's run at 1×/10×/100×, or ``not run``."""
    return percents(runs[0]) if runs else "not run"


def rpni_cell(runs: list[dict[str, Any]]) -> str:
    """``2.3 s, 20 states, 100%, yes``, or why there is none."""
    if not runs or not runs[0]["finished"]:
        return unfinished(runs)
    run = runs[0]
    return (
        f"{duration(run['seconds'])}, {run['states']} states, {percents(run, (10,))}%, "
        + EQUIVALENT[run["equivalent"]]
    )


def lstar_cell(runs: list[dict[str, Any]]) -> str:
    """``0.7 s, 1,234 queries, 29 states, yes``, or why there is none."""
    if not runs or not runs[0]["finished"]:
        return unfinished(runs)
    run = runs[0]
    return (
        f"{duration(run['seconds'])}, {run['queries']:,} queries, {run['states']} states, "
        + EQUIVALENT[run["equivalent"]]
    )


def duration(seconds: float) -> str:
    """``0.0042 s``, ``3.7 s``, ``41 s``: two significant digits."""
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"


EQUIVALENT = {True: "yes", False: "no", None: "unknown (no reference machine)"}


def unfinished(runs: list[dict[str, Any]]) -> str:
    """The cell of a learner that has no record or did not finish."""
    if not runs:
        return "not run"
    if runs[0].get("skipped"):
        return "not run: the reference machine has too many states"
    return f"did not finish in {runs[0]['timeout']:.0f} s"


# --- the command line ---------------------------------------------------------------------------


def command_line() -> str:
    """The command that is running, for the table."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's options (``argv``: ``sys.argv[1:]`` when ``None``); a bad option
    exits with one line and status 2."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS, metavar="PRESET")
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], metavar="SEED")
    parser.add_argument(
        "--rpni-episodes", type=int, default=RPNI_EPISODES, help="most episodes RPNI reads"
    )
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT, help="seconds RPNI or L* may take a preset"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "automata")
    parser.add_argument(
        "--runs",
        type=Path,
        default=ROOT / "runs" / "results",
        help="benchmarks/results.py's --out: the boolean RNN's runs",
    )
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where automata.md goes")
    parser.add_argument("--force", action="store_true", help="redo jobs whose record exists")
    parser.add_argument("--render", action="store_true", help="only render the table")
    args = parser.parse_args(argv)
    unknown = [p for p in args.presets if p not in PRESET_NAMES]
    if unknown:
        parser.error(f"unknown presets {unknown}; choose from {PRESET_NAMES}")
    if min(args.seeds) < 0:
        parser.error(f"--seeds must not be negative, got {args.seeds}")
    if args.rpni_episodes < 1:
        parser.error(f"--rpni-episodes must be at least 1, got {args.rpni_episodes}")
    if not args.timeout > 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    return args


def grid(args: argparse.Namespace) -> list[Job]:
    """The jobs the options ask for, in :data:`LEARNERS` order, that have no record yet (all
    of them with ``--force``); RPNI and L* on the first seed only."""
    jobs = [
        Job(
            preset=preset,
            learner=learner,
            seed=seed,
            rpni_episodes=args.rpni_episodes,
            timeout=args.timeout,
            command=command_line(),
        )
        for learner in [kind for kind in LEARNERS if kind in args.learners]
        for preset in dict.fromkeys(args.presets)
        for seed in (args.seeds[:1] if learner in AALPY_LEARNERS else dict.fromkeys(args.seeds))
    ]
    return [job for job in jobs if args.force or not record_path(args.out, job).exists()]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the missing jobs one after another, then render the table."""
    args = parse_args(argv)
    try:
        for job in [] if args.render else grid(args):
            print(f"{record_name(job)} ...", flush=True)
            record = run_job(job, args.out, args.runs)
            print(f"{record_name(job)}: {json.dumps(record)}", flush=True)
    finally:
        print(f"wrote {render(args.out, args.docs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
