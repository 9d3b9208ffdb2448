"""End-to-end sweeps of ``python -m gru_attn.train --multirun`` on ``experiment=fast_test``:
a 2x2 grid, a failing last grid point, an Optuna sweep killed and resumed, pruning;
``gru_attn.compare`` on each output. (Parallel and shared sweeps: test_sweep_parallel.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from gru_attn.compare import compare
from gru_attn.sweep import study as st
from gru_attn.sweep.runs import find_runs

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

REPO = Path(__file__).resolve().parents[1]
# The smallest real runs: tiny corpus and model, one-batch epochs, one thread per run.
TINY = ["experiment=fast_test", "data.batch_size=4", "trainer.threads=1", "trainer.limit_train_batches=1"]


def train_command(sweep_dir: Path, *overrides: str) -> list[str]:
    """The ``--multirun`` command line of a tiny sweep into ``sweep_dir``."""
    return [sys.executable, "-m", "gru_attn.train", "--multirun", f"hydra.sweep.dir={sweep_dir}", *TINY, *overrides]


def sweep_env(cache_dir: Path, **extra: str) -> dict:
    """The environment of a sweep process (the session's corpus cache)."""
    return {**os.environ, "GRU_ATTN_CACHE": str(cache_dir), "PYTHONUNBUFFERED": "1", **extra}


def run_sweep(
    cache_dir: Path,
    sweep_dir: Path,
    *overrides: str,
    env: dict | None = None,
    command: list[str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run a sweep to its end and check that it succeeded."""
    proc = subprocess.run(
        command or train_command(sweep_dir, *overrides),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**sweep_env(cache_dir), **(env or {})},
    )
    assert proc.returncode == 0, f"sweep failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def study_trials(sweep_dir: Path) -> list:
    """The trials of the sweep's study (from its study.json)."""
    info = json.loads((sweep_dir / "study.json").read_text())
    return optuna.load_study(study_name=info["study_name"], storage=st.open_storage(info["storage"])).get_trials()


def statuses(sweep_dir: Path) -> dict[str, str]:
    """Run name -> status of the runs in ``sweep_dir`` so far."""
    return {run.name: run.status for run in find_runs(sweep_dir)} if sweep_dir.is_dir() else {}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def kill_sweep_when(
    cache_dir: Path, sweep_dir: Path, overrides: list[str], condition, timeout: float, what: str
) -> None:
    """Start a sweep, wait for ``condition()``, then SIGKILL its whole process group."""
    proc = subprocess.Popen(
        train_command(sweep_dir, *overrides),
        cwd=REPO,
        env=sweep_env(cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(condition, timeout=timeout, what=what)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)


def test_grid_multirun_2x2(cache_dir, tmp_path):
    sweep_dir = tmp_path / "grid"
    run_sweep(cache_dir, sweep_dir, "model.hidden_dim=16,32", "model.num_layers=1,2", "trainer.max_epochs=1")
    runs = find_runs(sweep_dir)
    assert [r.name for r in runs] == ["0", "1", "2", "3"]
    assert all(r.status == "completed" for r in runs)
    assert sorted((r.config["model"]["hidden_dim"], r.config["model"]["num_layers"]) for r in runs) == [
        (16, 1),
        (16, 2),
        (32, 1),
        (32, 2),
    ]
    for r in runs:
        assert (r.path / "checkpoints" / "best.pt").exists() and (r.path / "checkpoints" / "final.pt").exists()
    rows = compare([sweep_dir], quiet=True)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert all(r["parameters"] > 0 and r["best_epoch"] == 1 for r in rows)
    assert (sweep_dir / "heatmap.png").exists() and (sweep_dir / "results.csv").exists()


def test_failing_last_grid_point_is_recorded_and_the_sweep_completes(cache_dir, tmp_path):
    # hidden_dim=30 is not divisible by the 4 heads of fast_test's model: an InputError, last in the grid
    sweep_dir = tmp_path / "grid_fail"
    run_sweep(
        cache_dir,
        sweep_dir,
        "hparams_search=grid",
        "model.hidden_dim=choice(16,30)",
        "model.num_layers=1",
        "trainer.max_epochs=1",
    )
    trials = study_trials(sweep_dir)
    assert [(t.number, t.params["model.hidden_dim"], t.state.name) for t in trials] == [
        (0, 16, "COMPLETE"),
        (1, 30, "FAIL"),
    ]
    assert statuses(sweep_dir) == {"0": "completed", "1": "failed"}
    assert "divisible" in json.loads((sweep_dir / "1" / "metrics.json").read_text())["summary"]["reason"]
    rows = compare([sweep_dir], quiet=True)
    assert [(r["run"], r["status"]) for r in rows] == [("0", "completed"), ("1", "failed")]
    assert "model.hidden_dim=30 is not divisible" in (sweep_dir / "results.md").read_text()


def test_optuna_sweep_killed_then_resumed_to_its_total(cache_dir, tmp_path):
    sweep_dir = tmp_path / "optuna"
    overrides = [
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "model.hidden_dim=choice(16,32)",
        "model.num_layers=1",
        "optimizer.lr=0.003",
        "trainer.max_epochs=3",
    ]
    kill_sweep_when(
        cache_dir,
        sweep_dir,
        overrides,
        lambda: statuses(sweep_dir).get("0") == "completed" and statuses(sweep_dir).get("1") == "running",
        timeout=300,
        what="trial 0 to finish and trial 1 to train its first epoch",
    )
    metrics_0 = sweep_dir / "0" / "metrics.json"
    finished = metrics_0.read_bytes(), metrics_0.stat().st_mtime_ns
    assert [t.state.name for t in study_trials(sweep_dir)] == ["COMPLETE", "RUNNING"]  # the killed one

    run_sweep(cache_dir, sweep_dir, *overrides)  # the same command resumes

    trials = study_trials(sweep_dir)
    counted = st.counted_trials(trials)
    assert len(counted) == 3 and all(t.state.name == "COMPLETE" for t in counted)  # the total, not 3 more
    assert trials[1].state.name == "FAIL"  # the orphan ...
    retries = [t for t in trials if st.RETRY.retried_trial_number(t) == 1]
    assert len(retries) == 1 and retries[0].params == trials[1].params  # ... re-run with its parameters
    assert (metrics_0.read_bytes(), metrics_0.stat().st_mtime_ns) == finished  # never overwritten
    assert set(statuses(sweep_dir)) == {str(t.number) for t in trials if t.number != 1} | {"1"}
    killed = json.loads((sweep_dir / "1" / "metrics.json").read_text())["summary"]
    assert killed["status"] == "interrupted" and "re-queued" in killed["reason"]  # no longer "running"
    rows = {r["run"]: r for r in compare([sweep_dir], quiet=True)}
    assert rows["1"]["status"] == "interrupted"
    assert sum(r["status"] == "completed" for r in rows.values()) == 3
    assert (sweep_dir / "optuna_history.png").exists()


def test_pruning_stops_a_hopeless_trial_and_the_sweep_completes(cache_dir, tmp_path):
    # A grid over the learning rate, written good first: lr=1e-8 hardly moves the validation loss
    # away from its initial value, so the median rule stops it after its first epoch.
    sweep_dir = tmp_path / "pruning"
    run_sweep(
        cache_dir,
        sweep_dir,
        "hparams_search=grid",
        "optimizer.lr=choice(0.003,0.00000001)",
        "model.hidden_dim=16",
        "model.num_layers=1",
        "optimized_metric=val/loss",
        "optimized_direction=minimize",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=2",
    )
    good, bad = study_trials(sweep_dir)
    assert (good.state.name, bad.state.name) == ("COMPLETE", "PRUNED")
    assert list(good.intermediate_values) == [1, 2, 3] and list(bad.intermediate_values) == [1]
    assert bad.value == bad.intermediate_values[1]  # a pruned trial keeps its last reported value
    metrics = json.loads((sweep_dir / "1" / "metrics.json").read_text())
    assert metrics["summary"]["status"] == "pruned" and len(metrics["history"]) == 1
    assert (sweep_dir / "1" / "checkpoints" / "final.pt").exists()
    rows = {r["run"]: r for r in compare([sweep_dir], quiet=True)}
    assert (rows["0"]["status"], rows["0"]["epochs"]) == ("completed", 3)
    assert (rows["1"]["status"], rows["1"]["epochs"]) == ("pruned", 1)
