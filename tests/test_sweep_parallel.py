"""Sweeps across (faked) GPUs, processes and machines: ``hydra/launcher=gpus``, per-GPU workers
sharing an SQLite study (stopped by SIGTERM, then finished), ``submitit_local``, and two
processes sharing one study in PostgreSQL (``GRU_ATTN_TEST_POSTGRES_URL``, set by .ci/run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from test_sweep_e2e import REPO, run_sweep, statuses, study_trials, sweep_env, train_command, wait_for

from gru_attn.compare import compare
from gru_attn.sweep import study as st
from gru_attn.sweep.devices import FAKE_GPUS_ENV
from gru_attn.sweep.runs import read_run

pytestmark = pytest.mark.slow


def trained_on(run_dir: Path) -> str:
    """The ``trainer.device`` a run was given (its composed config)."""
    return read_run(run_dir).config["trainer"]["device"]


def processes_mentioning(text: str) -> list[int]:
    """Pids of the live processes whose command line contains ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_gpus_launcher_gives_each_job_of_a_batch_its_own_gpu(cache_dir, tmp_path):
    sweep_dir = tmp_path / "gpus"
    run_sweep(
        cache_dir,
        sweep_dir,
        "hydra/launcher=gpus",
        "model.hidden_dim=16,32,48",
        "model.num_layers=1",
        "trainer.max_epochs=1",
        env={FAKE_GPUS_ENV: "2"},
    )
    runs = statuses(sweep_dir)
    assert runs == {"0": "completed", "1": "completed", "2": "completed"}
    # two synchronous batches, [0, 1] and [2]: job k on cuda:(k % 2), trained on the CPU under the fake
    assert [trained_on(sweep_dir / k) for k in ("0", "1", "2")] == ["cuda:0", "cuda:1", "cuda:0"]
    assert {r["run"]: r["status"] for r in compare([sweep_dir], quiet=True)} == runs


def test_per_gpu_workers_share_one_study_stop_on_sigterm_and_resume(cache_dir, tmp_path):
    sweep_dir = tmp_path / "workers"
    command = [
        sys.executable,
        "-m",
        "gru_attn.sweep.workers",
        "--gpus",
        "0,1",
        "--grace",
        "30",
        "--",
        *train_command(
            sweep_dir,
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=6",
            "model.hidden_dim=choice(16,32)",
            "model.num_layers=1",
            "optimizer.lr=0.003",
            "trainer.max_epochs=4",
            "hydra.sweeper.heartbeat_interval=2",
        )[4:],
    ]
    env = sweep_env(cache_dir, **{FAKE_GPUS_ENV: "2"})
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # two trials training at once (metrics.json says "running": past the job's start-up, inside the
        # epochs; 4 epochs keep them there a few seconds), with at least two of the six not yet asked:
        # should both finish before the signal lands, the workers are then in the next ones
        in_flight = ("running",)

        def both_busy_with_trials_left() -> bool:
            runs = statuses(sweep_dir)
            return sum(status in in_flight for status in runs.values()) >= 2 and len(runs) <= 4

        wait_for(
            both_busy_with_trials_left,
            timeout=300,
            what="both workers to be in a trial",
        )
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output[-3000:]
    assert "[cuda:0]" in output and "[cuda:1]" in output
    assert processes_mentioning(str(sweep_dir)) == []  # every worker is gone
    states = Counter(t.state.name for t in study_trials(sweep_dir))
    assert states["RUNNING"] == 0 and states["WAITING"] >= 1  # interrupted trials were re-queued

    run_sweep(cache_dir, sweep_dir, command=command, env={FAKE_GPUS_ENV: "2"})  # the same command finishes

    trials = study_trials(sweep_dir)
    counted = st.counted_trials(trials)
    assert len(counted) == 6 and all(t.state.name == "COMPLETE" for t in counted)
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    devices = {trained_on(sweep_dir / str(t.number)) for t in counted}
    assert devices == {"cuda:0", "cuda:1"}  # both workers ran trials
    assert len({t.user_attrs[st.RUN_DIR_ATTR] for t in counted}) == 6
    rows = compare([sweep_dir], quiet=True)
    assert sum(r["status"] == "completed" for r in rows) == 6


def test_submitit_local_launcher_runs_a_tiny_sweep(cache_dir, tmp_path):
    sweep_dir = tmp_path / "submitit"
    run_sweep(
        cache_dir,
        sweep_dir,
        "hparams_search=optuna",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "model.hidden_dim=choice(16,32)",
        "model.num_layers=1",
        "optimizer.lr=0.003",
        "trainer.max_epochs=1",
    )
    assert [t.state.name for t in study_trials(sweep_dir)] == ["COMPLETE", "COMPLETE"]
    assert statuses(sweep_dir) == {"0": "completed", "1": "completed"}
    assert (sweep_dir / ".submitit").is_dir()


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("GRU_ATTN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "GRU_ATTN_TEST_POSTGRES_URL is unset: no PostgreSQL server to test against "
            "(.ci/run starts a throwaway one and sets it)"
        )
    return url


def two_processes_share_one_study(cache_dir, sweep_dir: Path, storage: str) -> None:
    """Two sweep processes (different seeds) on one study run its 4 trials in total, none twice."""
    study_name = f"test-{uuid.uuid4().hex[:12]}"
    processes = [
        subprocess.Popen(
            train_command(
                sweep_dir,
                "hparams_search=optuna",
                f"hydra.sweeper.storage={storage}",
                f"hydra.sweeper.study_name={study_name}",
                "hydra.sweeper.n_trials=4",
                "model.hidden_dim=choice(16,32)",
                "model.num_layers=1",
                "optimizer.lr=0.003",
                "trainer.max_epochs=1",
                f"seed={seed}",
            ),
            cwd=REPO,
            env=sweep_env(cache_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for seed in (0, 1)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    for p, out in zip(processes, outputs):
        assert p.returncode == 0, out[-3000:]
    trials = study_trials(sweep_dir)
    counted = st.counted_trials(trials)
    assert len(counted) == 4 and all(t.state.name == "COMPLETE" for t in counted)  # N in total, none lost
    assert all(st.SURPLUS_ATTR in t.user_attrs for t in trials if t not in counted)  # extras never ran
    run_dirs = [t.user_attrs[st.RUN_DIR_ATTR] for t in counted]
    assert len(set(run_dirs)) == 4  # no trial ran twice
    assert statuses(sweep_dir) == {str(t.number): "completed" for t in counted}
    assert len({t.user_attrs[st.OWNER_ATTR]["pid"] for t in counted}) == 2  # both processes ran trials


def test_two_processes_share_one_postgresql_study(cache_dir, tmp_path, postgres_url):
    two_processes_share_one_study(cache_dir, tmp_path / "shared", postgres_url)


def test_two_processes_share_one_journal_file(cache_dir, tmp_path):
    # Optuna's JournalStorage with its file backend: no server, one file the processes append to
    journal = tmp_path / "study" / "optuna.log"
    two_processes_share_one_study(cache_dir, tmp_path / "journal", f"journal:///{journal}")
    assert journal.stat().st_size > 0 and not (tmp_path / "journal" / "optuna.db").exists()
