"""The benchmark scripts: the run records they keep beside their docs, the results schedule."""

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from common import merge_records


def write(folder: Path, name: str, record: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(record))


def test_fresh_records_replace_kept_ones_and_are_kept_without_dropped_keys(tmp_path):
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    write(kept, "a.json", {"row": "a", "old": True})
    write(kept, "b.json", {"row": "b", "old": True})
    write(fresh, "b.json", {"row": "b", "old": False, "loss": [1.0, 0.5]})
    write(fresh, "c.json", {"row": "c", "old": False, "loss": [2.0]})

    records = merge_records(kept, fresh, drop=("loss",))

    assert records == [
        {"row": "a", "old": True},
        {"row": "b", "old": False},
        {"row": "c", "old": False},
    ]
    assert sorted(p.name for p in kept.iterdir()) == ["a.json", "b.json", "c.json"]
    assert json.loads((kept / "c.json").read_text()) == {"row": "c", "old": False}
    assert "loss" in json.loads((fresh / "b.json").read_text())  # the fresh run is untouched


def test_missing_folders_give_no_records(tmp_path):
    assert merge_records(tmp_path / "kept", tmp_path / "fresh") == []


def test_pattern_selects_the_records(tmp_path):
    write(tmp_path / "fresh", "speed-cpu.json", {"rows": []})
    write(tmp_path / "fresh", "other.json", {"rows": None})
    records = merge_records(tmp_path / "kept", tmp_path / "fresh", pattern="speed-*.json")
    assert records == [{"rows": []}]
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["speed-cpu.json"]


def test_results_table_runs_are_the_defaults_with_the_step_cap():
    from results import Job, train_config

    from agents.recipes import recipe

    job = Job("RememberMedium", "lstm", 30000, "cpu", "auto", 3, 1, "python ...", False)
    assert train_config(job) == recipe("RememberMedium", "lstm", steps=30000, seed=3)
    job = Job("CountHard", "boolean", 5000, "cpu", "compiled", 0, 1, "python ...", False)
    expected = dataclasses.replace(recipe("CountHard", steps=5000), scan="compiled")
    assert train_config(job) == expected


def test_the_hardening_cell_says_when_the_automaton_verified():
    from results import hardened

    assert hardened({"harden_from": None}) == ""
    run = {"harden_from": 300, "steps_trained": 900, "verified_at": None}
    assert hardened(run) == " (hardened from 300 until 900, not verified)"
    run = {**run, "verified_at": 900, "seconds_to_verified": 12.4}
    assert hardened(run) == " (hardened from 300, verified (sampled check) at 900 in 12 s)"
    run = {**run, "verified_by": "proof"}
    assert hardened(run) == " (hardened from 300, proved at 900 in 12 s)"


def test_the_table_says_which_runs_are_missing(tmp_path):
    from results import percent, render

    docs = tmp_path / "docs"
    record = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/runs/RepeatMedium-lstm.json").read_text()
    )
    write(docs / "runs", "RepeatMedium-lstm.json", record)

    render(tmp_path / "out", docs)

    table = (docs / "results.md").read_text()
    assert f"| RepeatMedium | lstm | 48 | {percent(record['accuracy']['1'])} |" in table
    assert "| RepeatMedium | boolean | 48 | not run |" in table  # state_dim_for: 2 × 20 bits
    assert "| RepeatMedium | gru | 48 | not run |" in table
    assert "| CountHard | boolean | 272 | not run |" in table


def test_the_speed_table_shows_the_compiled_scan_where_measured(tmp_path):
    from results import render

    def table(row):
        record = {"device": "CPU", "command": "python x", "rows": [row]}
        write(tmp_path / "out", "speed-cpu.json", record)
        render(tmp_path / "out", tmp_path / "docs")
        return (tmp_path / "docs/results.md").read_text()

    assert "| 16 | 100 | – | 200 | 0.50, – |" in table(
        {"state_dim": 16, "boolean": 100.0, "lstm": 200.0}
    )
    assert "| 64 | 100 | 300 | 200 | 0.50, 1.50 |" in table(
        {"state_dim": 64, "boolean": 100.0, "compiled": 300.0, "lstm": 200.0}
    )


def test_a_row_names_the_hand_built_size_only_where_the_task_has_one():
    from results import table_row

    record = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/runs/ModCountEasy-boolean.json").read_text()
    )
    automaton = record["automaton"]
    assert automaton["hand_built_bits"] is None
    row = table_row(record)
    assert f"({automaton['bits_used']} bits, {automaton['states']} states)" in row
    assert "hand-built" not in row
    with_size = {**record, "automaton": {**automaton, "hand_built_bits": 18}}
    assert f"{automaton['states']} states; hand-built ≈18)" in table_row(with_size)
