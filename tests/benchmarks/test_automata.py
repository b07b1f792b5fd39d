"""benchmarks/automata.py: RPNI and L* learn the reference machine of a small task, the product
check tells equal machines from broken ones, records render into the table, bad options fail."""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


import automata  # noqa: E402
import sweep  # noqa: E402

import agents.train  # noqa: E402
import memgym  # noqa: E402
from agents.export import MooreTable  # noqa: E402
from agents.train import MERGE_EPISODES, TrainConfig  # noqa: E402
from memgym.machine import TooManyStates  # noqa: E402

TINY = {"num_cards": 2, "n_range": (2, 4)}
REMEMBER = "memgym/Remember-v0"


def reference_table() -> MooreTable:
    """The every-length reference as a table of token names."""
    machine = memgym.reference(REMEMBER, every_length=True, **TINY)
    names = tuple(None if o < 0 else machine.obs_tokens[o] for o in machine.outputs)
    return MooreTable(machine.transitions.copy(), names, machine.act_tokens, machine.initial)


def with_output(table: MooreTable, state: int, name: str | None) -> MooreTable:
    outputs = list(table.outputs)
    outputs[state] = name
    return replace(table, outputs=tuple(outputs))


def test_rpni_learns_a_machine_equal_to_the_reference_from_rollouts():
    fields = automata.rpni(REMEMBER, episodes=300, seed=0, env_kwargs=TINY)

    assert fields["equivalent"] is True
    assert fields["accuracy"] == {"1": 1.0, "10": 1.0, "100": 1.0}
    assert fields["episodes"] == 300 and fields["prefixes"] > 0 and fields["states"] >= 3


def test_rpni_reads_the_episodes_of_each_resampling_of_the_boolean_rnn_too():
    config = TrainConfig(env_id=REMEMBER, env_kwargs=TINY, seed=0)
    fields = automata.rpni(REMEMBER, episodes=300, seed=0, env_kwargs=TINY, resampled_at=[7, 9])

    assert fields["episodes"] == 300 + 2 * (config.resample_episodes + MERGE_EPISODES)
    assert fields["equivalent"] is True


def test_rpni_reads_each_batch_of_every_length_the_merge_ladder_drew(monkeypatch):
    monkeypatch.setattr(agents.train, "MERGE_EPISODES", 64)
    config = TrainConfig(env_id=REMEMBER, env_kwargs=TINY, seed=0)
    fields = automata.rpni(
        REMEMBER, episodes=300, seed=0, env_kwargs=TINY, resampled_at=[7, 9], merge_draws=[3, 0]
    )

    assert fields["episodes"] == 300 + 2 * config.resample_episodes + 64 * (1 + 2 + 4)


def test_lstar_learns_the_minimal_reference_machine():
    fields = automata.lstar(REMEMBER, seed=0, env_kwargs=TINY)

    assert fields["equivalent"] is True
    assert fields["states"] == memgym.reference(REMEMBER, every_length=True, **TINY).num_states
    assert fields["accuracy"]["100"] == 1.0
    assert fields["queries"] == fields["membership_queries"] + fields["equivalence_queries"] > 0


def test_the_product_check_finds_a_wrong_answer_and_a_missing_transition():
    machine = memgym.reference(REMEMBER, every_length=True, **TINY)
    table = reference_table()
    assert automata.equivalent(table, machine)[0]

    answer = table.outputs.index("[card 0]")
    assert not automata.equivalent(with_output(table, answer, "[card 1]"), machine)[0]
    held = int(machine.transitions[machine.initial, machine.act_tokens.index("[card 1]")])
    assert not automata.equivalent(with_output(table, held, None), machine)[0]

    # what an invalid token or [end] leads to is not compared
    sink = int(machine.transitions[machine.initial, machine.act_tokens.index("[ask]")])
    assert automata.equivalent(with_output(table, sink, "[card 0]"), machine)[0]
    end = int(machine.transitions[answer, machine.act_tokens.index("[end]")])
    assert automata.equivalent(with_output(table, end, "[wait]"), machine)[0]


def test_a_table_scores_as_a_predictor_and_shows_no_answer_where_it_has_none():
    table = reference_table()
    machine = memgym.reference(REMEMBER, every_length=True, **TINY)
    predictor = automata.TablePredictor(table, machine.obs_tokens)
    assert automata.accuracy(predictor, REMEMBER, TINY) == {"1": 1.0, "10": 1.0, "100": 1.0}

    table = with_output(table, table.outputs.index("[card 1]"), None)
    predictor = automata.TablePredictor(table, machine.obs_tokens)
    assert 0.4 < automata.accuracy(predictor, REMEMBER, TINY)["1"] < 0.6  # card 1: no answer


def test_an_aalpy_machine_without_some_transitions_leads_them_to_a_sink():
    from aalpy.automata import MooreMachine

    machine = memgym.reference(REMEMBER, every_length=True, **TINY)
    learned = reference_table().to_aalpy()
    for state in learned.states:  # ids, as RPNI's data has them, and card 1 unseen
        state.output = None if state.output is None else machine.obs_tokens.index(state.output)
        state.transitions = {
            machine.act_tokens.index(name): target
            for name, target in state.transitions.items()
            if name != "[card 1]"
        }
    assert isinstance(learned, MooreMachine)
    table = automata.aalpy_table(learned, machine.act_tokens, machine.obs_tokens)

    assert len(table) == len(learned.states) + 1 and table.outputs[table.sink] is None
    assert table.transitions[table.initial, 1] == table.sink
    assert not automata.equivalent(table, machine)[0]


def test_the_boolean_column_is_read_from_the_results_record_of_the_same_run(tmp_path):
    runs = tmp_path / "results"
    (runs / "runs").mkdir(parents=True)
    kept = json.loads(
        (automata.ROOT / "docs" / "runs" / "CountEasy-boolean-seed1.json").read_text()
    )
    record = {**kept, "verified_by": "proof", "command": "python benchmarks/results.py ..."}
    (runs / "runs" / "CountEasy-boolean-seed1.json").write_text(json.dumps(record))

    fields = automata.learn_boolean(job(preset="CountEasy", learner="boolean", seed=1), runs)

    assert fields["proof"] == "proved" and fields["verified"] == record["automaton"]["verified"]
    assert fields["steps"] == record["steps_trained"]
    assert fields["episodes"] == record["steps_trained"] * record["train_config"]["batch_size"]
    assert fields["accuracy"] == {f: record["accuracy"][f] for f in ("1", "10", "100")}
    assert fields["command"] == record["command"]
    unproved = {**record, "verified_by": "sampled check"}
    (runs / "runs" / "CountEasy-boolean-seed1.json").write_text(json.dumps(unproved))
    assert (
        automata.learn_boolean(job(preset="CountEasy", learner="boolean", seed=1), runs)["proof"]
        == "not proved"
    )


def job(**changes) -> automata.Job:
    base = automata.Job("RememberEasy", "rpni", 0, 200, 60.0, "python benchmarks/x.py")
    return replace(base, **changes)


def test_a_record_is_written_skipped_when_present_and_rendered(tmp_path):
    out, docs = tmp_path / "out", tmp_path / "docs"
    record = automata.run_job(job(), out)

    assert record["finished"] and record["equivalent"] and record["reference_states"] == [23, 71]
    assert json.loads(automata.record_path(out, job()).read_text()) == record
    args = automata.parse_args(["--presets", "RememberEasy", "--out", str(out)])
    assert [(j.learner, j.seed) for j in automata.grid(args)] == [
        ("boolean", 0),
        ("boolean", 1),
        ("boolean", 2),
        ("gru", 0),
        ("gru", 1),
        ("gru", 2),
        ("lstm", 0),
        ("lstm", 1),
        ("lstm", 2),
        ("lstar", 0),
    ]
    page = automata.render(out, docs).read_text()

    assert "python benchmarks/x.py" in page and "nproc" in page
    row = next(line for line in page.splitlines() if line.startswith("| RememberEasy"))
    assert row.startswith("| RememberEasy | 23 (71) | not run | GRU not run, LSTM not run | ")
    assert f"{record['states']} states, 100%, yes" in row and row.endswith("| not run |")
    assert (docs / "automata" / "RememberEasy-rpni-seed0.json").exists()


def test_rpni_reads_no_more_episodes_than_the_boolean_rnn_consumed(tmp_path):
    boolean = {"preset": "RememberEasy", "learner": "boolean", "seed": 0, "episodes": 150}
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "RememberEasy-boolean-seed0.json").write_text(json.dumps(boolean))

    assert automata.run_job(job(), tmp_path)["episodes"] == 150


def test_boolean_and_unfinished_records_render(tmp_path):
    out = tmp_path / "out"
    common = {"preset": "CountEasy", "reference_states": [30, 56], "command": "c", "date": "d"}
    common |= {"machine": "m", "timeout": 900.0}
    runs = [
        ("boolean", 0, {"verified": True, "proof": "proved", "seconds_to_verified": 10.0}),
        ("boolean", 1, {"verified": True, "proof": "counterexample", "seconds_to_verified": 30.0}),
        ("boolean", 2, {"verified": False, "proof": "counterexample", "seconds_to_verified": None}),
        ("rpni", 0, {"finished": False}),
        ("lstar", 0, {"finished": False, "skipped": "too many"}),
    ]
    (out / "records").mkdir(parents=True)
    for learner, seed, fields in runs:
        record = {**common, "learner": learner, "seed": seed, "bits_used": 9, **fields}
        (out / "records" / f"CountEasy-{learner}-seed{seed}.json").write_text(json.dumps(record))

    page = automata.render(out, tmp_path / "docs").read_text()

    row = next(line for line in page.splitlines() if line.startswith("| CountEasy"))
    assert "| 1/3 proved (2 verified), 20 s, 9 bits |" in row
    assert "| did not finish in 900 s |" in row
    assert row.endswith("| not run: the reference machine has too many states |")


def slow(job: automata.Job) -> dict:
    time.sleep(30)
    return {}


def failing(job: automata.Job) -> dict:
    raise ValueError("no data")


def too_large(job: automata.Job) -> dict:
    raise TooManyStates("more than 10 states")


def test_a_learner_past_its_timeout_is_recorded_as_not_finished_and_errors_surface():
    started = time.perf_counter()
    assert automata.within(slow, job(timeout=0.5)) == {"finished": False}
    assert time.perf_counter() - started < 10
    with pytest.raises(RuntimeError, match="rpni on RememberEasy failed: ValueError: no data"):
        automata.within(failing, job())
    skipped = {"finished": False, "skipped": "more than 10 states"}
    assert automata.within(too_large, job()) == skipped


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--presets", "Nope"], "unknown presets ['Nope']"),
        (["--seeds", "-1"], "--seeds must not be negative"),
        (["--rpni-episodes", "0"], "--rpni-episodes must be at least 1"),
        (["--timeout", "0"], "--timeout must be positive"),
        (["--learners", "ctc"], "invalid choice: 'ctc'"),
    ],
)
def test_bad_options_exit_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        automata.main([*argv, "--render"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert message in error[-1] and "Traceback" not in "".join(error)


def test_the_sweep_runs_one_cpu_per_missing_record(tmp_path):
    grid = sweep.automata_grid(["--presets", "CountEasy", "--seeds", "0", "--out", str(tmp_path)])

    names = [run.name for run in grid.runs]
    assert names == [f"CountEasy-{kind}-seed0" for kind in automata.LEARNERS]
    assert all(run.cpus == 1 for run in grid.runs) and grid.logs == tmp_path / "logs"
    with pytest.raises(ValueError, match="--cpus-per-run"):
        sweep.automata_grid([], cpus_per_run=2)


def test_the_command_line_runs_the_missing_jobs_and_renders(tmp_path, capsys):
    argv = ["--presets", "ModCountEasy", "--learners", "rpni", "--rpni-episodes", "100"]
    argv += ["--out", str(tmp_path / "out"), "--docs", str(tmp_path / "docs")]

    assert automata.main(argv) == 0
    assert "ModCountEasy-rpni-seed0:" in capsys.readouterr().out
    assert automata.main(argv) == 0  # the record exists: nothing runs
    assert "ModCountEasy-rpni-seed0" not in capsys.readouterr().out
    page = (tmp_path / "docs" / "automata.md").read_text()
    assert "| ModCountEasy | 13 (37) | not run |" in page
