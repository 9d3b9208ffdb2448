"""Unit tests of the sweep machinery (no training): devices, study bookkeeping, grid, pruning, launcher."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from gru_attn.engine import Pruned
from gru_attn.sweep import devices, study as st, workers
from gru_attn.sweep.sweeper import launcher_parallelism

optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- devices ------------------------------------------------------------------------------------


def test_device_for_job_cycles_over_gpus_and_falls_back_to_cpu():
    assert [devices.device_for_job(k, 2) for k in range(5)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert [devices.device_for_job(k, 3) for k in (3, 4, 5)] == ["cuda:0", "cuda:1", "cuda:2"]
    assert devices.device_for_job(7, 0) == "cpu"


def test_fake_gpus_count_and_train_on_cpu(monkeypatch):
    monkeypatch.setenv(devices.FAKE_GPUS_ENV, "3")
    monkeypatch.setattr(devices.torch.cuda, "is_available", lambda: False)
    assert devices.gpu_count() == 3
    assert devices.job_device("cuda:2") == "cpu"
    assert devices.job_device("auto") == "auto"
    monkeypatch.delenv(devices.FAKE_GPUS_ENV)
    monkeypatch.setattr(devices.torch.cuda, "device_count", lambda: 0)
    assert devices.gpu_count() == 0
    assert devices.job_device("cuda:2") == "cuda:2"  # no silent fallback without the fake
    monkeypatch.setenv(devices.FAKE_GPUS_ENV, "two")
    with pytest.raises(ValueError, match="GRU_ATTN_FAKE_GPUS"):
        devices.gpu_count()


def test_gpu_launcher_runs_synchronous_batches_one_gpu_each(monkeypatch):
    from hydra_plugins.gru_attn_sweep import GpuJoblibLauncher
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

    calls = []
    monkeypatch.setattr(JoblibLauncher, "launch",
                        lambda self, overrides, initial_job_idx: calls.append((initial_job_idx, overrides))
                        or [None] * len(overrides))
    monkeypatch.setenv(devices.FAKE_GPUS_ENV, "2")
    launcher = GpuJoblibLauncher(n_jobs=2)
    returns = launcher.launch([["a=1"], ["a=2"], ["a=3"]], initial_job_idx=5)
    assert len(returns) == 3
    assert calls == [(5, [["a=1", "trainer.device=cuda:1"], ["a=2", "trainer.device=cuda:0"]]),
                     (7, [["a=3", "trainer.device=cuda:1"]])]
    monkeypatch.setenv(devices.FAKE_GPUS_ENV, "0")
    calls.clear()
    launcher.launch([["a=1"]], initial_job_idx=0)
    assert calls == [(0, [["a=1", "trainer.device=cpu"]])]
    assert launcher_parallelism(launcher) == 2


def test_launcher_parallelism_of_other_launchers():
    class Basic:
        pass

    class Submitit:
        params = {"array_parallelism": 6}

    class Joblib:
        def __init__(self, n_jobs):
            self.joblib = {"n_jobs": n_jobs}

    assert launcher_parallelism(Basic()) == 1
    assert launcher_parallelism(Submitit()) == 6
    assert launcher_parallelism(Joblib(3)) == 3
    assert launcher_parallelism(Joblib(-1)) == (os.cpu_count() or 1)


def test_workers_arguments():
    assert workers.parse_gpus("0,2", visible=4) == [0, 2]
    assert workers.parse_gpus(None, visible=3) == [0, 1, 2]
    for bad in ("0,4", "1,1", "x"):
        with pytest.raises(ValueError):
            workers.parse_gpus(bad, visible=4)
    with pytest.raises(ValueError, match="no GPU visible"):
        workers.parse_gpus(None, visible=0)
    first = workers.worker_command(3, ["hparams_search=optuna"], first=True)
    other = workers.worker_command(1, ["hparams_search=optuna"], first=False)
    assert first[1:5] == ["-m", "gru_attn.train", "--multirun", "hparams_search=optuna"]
    assert "trainer.device=cuda:3" in first and "hydra.sweeper.reseed=true" not in first
    assert "trainer.device=cuda:1" in other and "hydra.sweeper.reseed=true" in other


# -- study bookkeeping ----------------------------------------------------------------------------


def test_absolute_storage_url(tmp_path):
    assert st.absolute_storage_url("sqlite:///x/optuna.db", tmp_path) == f"sqlite:///{tmp_path}/x/optuna.db"
    assert st.absolute_storage_url("sqlite:////abs/o.db", tmp_path) == "sqlite:////abs/o.db"
    url = "postgresql+psycopg2://u:p@h:5432/db"
    assert st.absolute_storage_url(url, tmp_path) == url


@pytest.fixture
def sqlite_study(tmp_path):
    storage = st.open_storage(f"sqlite:///{tmp_path}/optuna.db")
    return st.open_study(storage, "s", ["maximize"])


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_orphan_of_dead_local_process_is_failed_and_requeued(sqlite_study):
    study = sqlite_study
    alive = study.ask({"x": optuna.distributions.CategoricalDistribution([1, 2])})
    st.claim(study, alive._trial_id)
    orphan = study.ask({"x": optuna.distributions.CategoricalDistribution([1, 2])})
    study._storage.set_trial_system_attr(orphan._trial_id, st.OWNER_ATTR, f"{socket.gethostname()}:{_dead_pid()}")
    assert st.reap_orphans(study, grace_period=60) == [orphan.number]
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING]
    retry = trials[2]
    assert retry.params == orphan.params and retry.system_attrs[st.RETRY_OF_ATTR] == orphan.number
    # the orphan no longer counts; the retry (when popped) and the live trial do
    assert [t.number for t in st.counted_trials(trials)] == [alive.number]
    popped = study.ask()
    assert popped.number == retry.number and popped.params == orphan.params
    assert st.reap_orphans(study, grace_period=60) == []  # nothing else is orphaned


def test_orphan_on_another_host_needs_a_stale_heartbeat(sqlite_study):
    study = sqlite_study
    trial = study.ask()
    study._storage.set_trial_system_attr(trial._trial_id, st.OWNER_ATTR, "some-other-host:1")
    study._storage.set_trial_system_attr(trial._trial_id, st.HEARTBEAT_ATTR, time.time())
    assert st.reap_orphans(study, grace_period=60) == []
    study._storage.set_trial_system_attr(trial._trial_id, st.HEARTBEAT_ATTR, time.time() - 120)
    assert st.reap_orphans(study, grace_period=60) == [trial.number]


def test_heartbeat_keeps_a_trial_alive(sqlite_study):
    study = sqlite_study
    trial = study.ask()
    st.claim(study, trial._trial_id)
    first = study._storage.get_trial(trial._trial_id).system_attrs[st.HEARTBEAT_ATTR]
    with st.Heartbeat(study, interval=0.05) as heartbeat:
        heartbeat.track([trial._trial_id])
        time.sleep(0.3)
    assert study._storage.get_trial(trial._trial_id).system_attrs[st.HEARTBEAT_ATTR] > first


def test_surplus_beyond_the_budget_and_duplicate_grid_points():
    study = optuna.create_study()
    dist = {"x": optuna.distributions.CategoricalDistribution([1, 2, 3])}
    first = study.ask(dist)
    study.tell(first, 1.0)
    second = study.ask(dist)
    trials = study.get_trials(deepcopy=False)
    assert st.surplus_reason(trials, trials[1], budget=2, is_grid=False) is None
    assert "budget" in st.surplus_reason(trials, trials[1], budget=1, is_grid=False)
    duplicate = trials[1].params == trials[0].params
    assert (st.surplus_reason(trials, trials[1], budget=5, is_grid=True) is not None) == duplicate
    st.mark_surplus(study, second._trial_id, "test")
    assert [t.number for t in st.counted_trials(study.get_trials(deepcopy=False))] == [first.number]


def test_grid_sampler_written_order_failing_last_point_and_requeue():
    sampler = st.ResumableGridSampler({"h": [128, 16, 64]})
    study = optuna.create_study(sampler=sampler)
    dist = optuna.distributions.CategoricalDistribution([128, 16, 64])
    seen = []
    for state in (TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL):  # the last point fails
        trial = study.ask()
        seen.append(trial.suggest_categorical("h", dist.choices))
        study.tell(trial, 1.0 if state == TrialState.COMPLETE else None, state)  # no study.stop() error
    assert seen == [128, 16, 64]
    assert st.uncovered_grid_points({"h": [128, 16, 64]}, study.get_trials(deepcopy=False)) == []
    # an orphaned point is uncovered again, and its retry runs exactly that point
    orphan = study.ask()  # grid exhausted: a re-evaluation, as GridSampler does
    orphan.suggest_categorical("h", dist.choices)
    assert st.surplus_reason(study.get_trials(deepcopy=False), study.get_trials(deepcopy=False)[-1], 3, True)


def test_grid_requeued_trial_keeps_its_point():
    space = {"h": [1, 2, 3]}
    study = optuna.create_study(sampler=st.ResumableGridSampler(space))
    dist = optuna.distributions.CategoricalDistribution([1, 2, 3])
    a = study.ask()
    a.suggest_categorical("h", dist.choices)
    st.fail_and_requeue(study, study._storage.get_trial(a._trial_id), "was interrupted")
    assert st.uncovered_grid_points(space, study.get_trials(deepcopy=False)) == [{"h": 1}, {"h": 2}, {"h": 3}]
    retry = study.ask()
    assert retry.suggest_categorical("h", dist.choices) == 1
    b = study.ask()
    assert b.suggest_categorical("h", dist.choices) == 2


def test_trial_outcome_from_run_status():
    assert st.trial_outcome("completed", 0.5) == (TrialState.COMPLETE, [0.5])
    assert st.trial_outcome("pruned", -math.inf) == (TrialState.PRUNED, None)
    assert st.trial_outcome("failed", -math.inf) == (TrialState.FAIL, None)
    assert st.trial_outcome(None, 0.25) == (TrialState.COMPLETE, [0.25])
    assert st.trial_outcome("completed", math.nan) == (TrialState.FAIL, None)
    assert st.trial_outcome(None, "not a number") == (TrialState.FAIL, None)


def test_trial_reporter_prunes_a_hopeless_trial_but_never_at_the_last_epoch():
    study = optuna.create_study(direction="minimize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    good = study.ask()
    for epoch, loss in enumerate([1.0, 0.8, 0.7], start=1):
        good.report(loss, epoch)
    study.tell(good, 0.7)
    bad = study.ask()
    reporter = st.TrialReporter(study, bad.number, metric="val/loss", last_epoch=3)
    reporter(1, {"val/loss": math.nan})  # ignored
    with pytest.raises(Pruned, match="MedianPruner after epoch 1"):
        reporter(1, {"val/loss": 5.0})
    assert study._storage.get_trial(bad._trial_id).intermediate_values == {1: 5.0}
    last = study.ask()
    st.TrialReporter(study, last.number, metric="val/loss", last_epoch=1)(1, {"val/loss": 9.0})  # no raise
