"""Sweeps on Ray: the same records as without Ray, a killed worker's run resumed, a partial grid
rendered, a cluster joined by address, and the command line's errors."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import results  # noqa: E402
import sweep  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")  # one local Ray per test process, not one per test

TINY = ["--presets", "RememberEasy", "CountEasy", "--models", "gru", "--seeds", "2"]
TINY += ["--steps", "5"]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs, shut down after the module's tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def deterministic(record: dict) -> dict:
    """A run record less the wall-clock times."""
    return {k: v for k, v in record.items() if k not in ("seconds", "seconds_to_perfect")}


def attempts(log: Path) -> list[int]:
    """The process ids of the attempts a run's log shows."""
    return [int(pid) for pid in re.findall(r"attempt on .*, pid (\d+)", log.read_text())]


def test_a_grid_on_ray_gives_the_records_of_the_grid_without_ray(local_ray, tmp_path):
    grid = sweep.results_grid([*TINY, "--out", str(tmp_path / "ray")], cpus_per_run=1)
    names = ["RememberEasy-gru", "RememberEasy-gru-seed1", "CountEasy-gru", "CountEasy-gru-seed1"]
    assert [run.name for run in grid.runs] == names
    assert all(run.cpus == 1 and run.gpus == 0 for run in grid.runs)

    assert sweep.run_grid(grid, poll=0.2) == []

    args = results.parse_args([*TINY, "--out", str(tmp_path / "plain")])
    for job in results.grid(args):  # what the script alone runs, in this process
        results.run_job(dataclasses.replace(job, threads=1), args.out)
    for name in names:
        on_ray = json.loads((tmp_path / "ray" / "runs" / f"{name}.json").read_text())
        plain = json.loads((tmp_path / "plain" / "runs" / f"{name}.json").read_text())
        assert deterministic(on_ray) == deterministic(plain)
        assert on_ray["resumed_from_step"] is None
        assert len(attempts(tmp_path / "ray" / "logs" / f"{name}.log")) == 1
    table = (tmp_path / "ray" / "docs" / "results.md").read_text()
    assert "| CountEasy | gru | 48 |" in table
    assert "| CountEasy | gru, seed 1 | 48 |" in table


def test_a_killed_worker_is_retried_and_its_run_resumes_from_its_checkpoint(local_ray, tmp_path):
    argv = ["--presets", "CountEasy", "--models", "gru", "--seeds", "2", "--steps", "600"]
    grid = sweep.results_grid([*argv, "--out", str(tmp_path)], cpus_per_run=1)
    victim, other = (run.name for run in grid.runs)
    checkpoint = results.checkpoint_dir(tmp_path, grid.runs[0].job) / "checkpoint"
    interval = results.train_config(grid.runs[0].job).checkpoint_interval
    assert interval < 600  # the first checkpoint comes before the end of the run
    log = grid.logs / f"{victim}.log"
    killed = []

    def kill_after_the_first_checkpoint() -> None:
        while not (checkpoint / "config.json").exists():
            time.sleep(0.01)
        killed.append(attempts(log)[0])
        os.kill(killed[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_after_the_first_checkpoint, daemon=True)
    killer.start()
    assert sweep.run_grid(grid, retries=1, poll=0.2) == []
    killer.join(timeout=1)

    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        f"{name}.json" for name in (victim, other)
    )
    record = json.loads((tmp_path / "runs" / f"{victim}.json").read_text())
    assert record["resumed_from_step"] == interval
    assert record["steps_trained"] == len(record["loss"]) == 600  # no step lost or done twice
    assert record["eval_steps"] == sorted(set(record["eval_steps"])) and 600 in record["eval_steps"]
    assert attempts(log)[0] == killed[0] and len(attempts(log)) == 2
    assert log.read_text().count("run done") == 1
    untouched = json.loads((tmp_path / "runs" / f"{other}.json").read_text())
    assert untouched["resumed_from_step"] is None
    assert len(attempts(grid.logs / f"{other}.log")) == 1


def test_a_failed_run_is_not_retried_and_the_rest_of_the_grid_renders(local_ray, tmp_path):
    argv = ["--presets", "CountEasy", "--models", "gru", "--seeds", "2", "--steps", "5"]
    grid = sweep.results_grid([*argv, "--out", str(tmp_path)], cpus_per_run=1)
    broken = dataclasses.replace(grid.runs[1].job, scan="nonsense")  # TrainConfig refuses it
    grid = dataclasses.replace(
        grid, runs=[grid.runs[0], dataclasses.replace(grid.runs[1], job=broken)]
    )

    assert sweep.run_grid(grid, poll=0.2) == ["CountEasy-gru-seed1"]

    log = (grid.logs / "CountEasy-gru-seed1.log").read_text()
    assert "ValueError: scan must be one of" in log
    assert len(attempts(grid.logs / "CountEasy-gru-seed1.log")) == 1  # not retried
    table = (tmp_path / "docs" / "results.md").read_text()
    assert "| CountEasy | gru | 48 |" in table
    assert "| CountEasy | gru, seed 1 |" not in table


def test_the_command_line_joins_a_cluster_by_address(local_ray, tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "sweep.py"), "--address", local_ray]
    command += ["--cpus-per-run", "1", "results", "--presets", "CountEasy", "--models", "gru"]
    command += ["--steps", "5", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 of 1 runs done" in done.stdout
    record = json.loads((tmp_path / "runs" / "CountEasy-gru.json").read_text())
    assert record["command"].endswith("--steps 5 --out " + str(tmp_path))
    assert "| CountEasy | gru | 48 |" in (tmp_path / "docs" / "results.md").read_text()

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "runs done" not in again.stdout  # nothing left to run


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cpus-per-run", "2", "rl"], "--cpus-per-run is for results runs"),
        (["rl", "--jobs", "0"], "--jobs must be at least 1"),
        (["--cpus-per-run", "0", "results"], "--cpus-per-run must be at least 1"),
        (["--retries", "-1", "results"], "--retries must not be negative"),
        (["results", "--speed"], "--speed measures this machine"),
        (["results", "--seeds", "0"], "--seeds and --jobs must be at least 1"),
        (["results", "--device", "cuda:1"], "Ray picks each run's GPU; use --device cuda"),
        (["results", "--seed", "3"], "unrecognized arguments: --seed 3"),
        (["ctc"], "invalid choice: 'ctc'"),
    ],
)
def test_command_line_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        sweep.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err.strip().splitlines()[-1] and "Traceback" not in err


def test_run_grid_needs_a_ray_instance(tmp_path, monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    grid = sweep.Grid(runs=[], execute=print, render=print, logs=tmp_path, local_cpus=1)
    with pytest.raises(RuntimeError, match="needs a Ray instance"):
        sweep.run_grid(grid)


def test_the_rl_grid_has_a_single_cpu_run_per_missing_record(tmp_path):
    argv = ["--envs", "RememberEasy", "--algos", "ppo_mlp", "rppo_lstm", "--seeds", "2"]
    argv += ["--jobs", "3", "--out", str(tmp_path)]
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "RememberEasy-ppo_mlp-1.json").write_text("{}")

    grid = sweep.rl_grid(argv)

    names = ["RememberEasy-rppo_lstm-0", "RememberEasy-rppo_lstm-1", "RememberEasy-ppo_mlp-0"]
    assert [run.name for run in grid.runs] == names
    assert all(run.cpus == 1 and run.gpus == 0 for run in grid.runs)
    assert grid.local_cpus == 3 and grid.logs == tmp_path / "logs"


def test_the_results_grid_declares_its_threads_and_gpus(tmp_path):
    argv = ["--presets", "CountEasy", "--models", "boolean", "--device", "cuda", "--jobs", "2"]
    argv += ["--out", str(tmp_path), "--force"]
    stale = tmp_path / "checkpoints" / "CountEasy-boolean" / "checkpoint"
    stale.mkdir(parents=True)

    grid = sweep.results_grid(argv, cpus_per_run=3)

    [run] = grid.runs
    assert (run.name, run.cpus, run.gpus, run.job.threads) == ("CountEasy-boolean", 3, 1.0, 3)
    assert run.job.resume and not stale.exists()  # --force starts afresh; a retry resumes
    assert grid.local_cpus == 6
