"""Unit tests of the sweep machinery (no training): devices, study bookkeeping, grid, pruning, launcher."""

from __future__ import annotations

import json
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
from gru_attn.sweep import devices, workers
from gru_attn.sweep import study as st
from gru_attn.sweep.sweeper import launcher_parallelism, search_space

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
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

    from hydra_plugins.gru_attn_sweep import GpuJoblibLauncher

    calls = []
    monkeypatch.setattr(
        JoblibLauncher,
        "launch",
        lambda self, overrides, initial_job_idx: calls.append((initial_job_idx, overrides)) or [None] * len(overrides),
    )
    monkeypatch.setenv(devices.FAKE_GPUS_ENV, "2")
    launcher = GpuJoblibLauncher(n_jobs=2)
    returns = launcher.launch([["a=1"], ["a=2"], ["a=3"]], initial_job_idx=5)
    assert len(returns) == 3
    assert calls == [
        (5, [["a=1", "trainer.device=cuda:1"], ["a=2", "trainer.device=cuda:0"]]),
        (7, [["a=3", "trainer.device=cuda:1"]]),
    ]
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
    assert st.absolute_storage_url("journal:///x/optuna.log", tmp_path) == f"journal:///{tmp_path}/x/optuna.log"
    assert st.absolute_storage_url("sqlite:////abs/o.db", tmp_path) == "sqlite:////abs/o.db"
    url = "postgresql+psycopg2://u:p@h:5432/db"
    assert st.absolute_storage_url(url, tmp_path) == url
    assert "p@" not in st.masked_url(url) and "***" in st.masked_url(url)


@pytest.fixture(params=["sqlite", "journal"])
def study_and_trials(tmp_path, request):
    url = f"sqlite:///{tmp_path}/optuna.db" if request.param == "sqlite" else f"journal:///{tmp_path}/optuna.log"
    storage = st.open_storage(url, heartbeat_interval=60)
    study = st.open_study(storage, "s", ["maximize"])
    return study, st.Trials(study, storage)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


DIST = {"x": optuna.distributions.CategoricalDistribution([1, 2])}


def test_orphan_of_dead_local_process_is_failed_requeued_and_its_run_marked(study_and_trials, tmp_path):
    study, trials = study_and_trials
    alive = study.ask(DIST)
    trials.claim(alive.number)
    orphan = study.ask(DIST)
    run_dir = tmp_path / "run1"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps({"summary": {"status": "running"}, "history": []}))
    trials.set_attr(orphan.number, st.RUN_DIR_ATTR, str(run_dir))
    trials.set_attr(
        orphan.number, st.OWNER_ATTR, {"host": socket.gethostname(), "pid": _dead_pid(), "trial": orphan.number}
    )
    assert trials.reap_orphans(grace_period=60) == [orphan.number]
    all_trials = study.get_trials(deepcopy=False)
    assert [t.state for t in all_trials] == [TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING]
    retry = all_trials[2]
    assert retry.params == orphan.params
    assert st.RETRY.retried_trial_number(retry) == orphan.number  # Optuna's retry bookkeeping
    # the orphan no longer counts; the retry (when popped) and the live trial do
    assert [t.number for t in st.counted_trials(all_trials)] == [alive.number]
    summary = json.loads((run_dir / "metrics.json").read_text())["summary"]
    assert summary["status"] == "interrupted" and "re-queued" in summary["reason"]  # the file tells the truth
    popped = study.ask(DIST)
    assert popped.number == retry.number and popped.params == orphan.params
    assert trials.reap_orphans(grace_period=60) == []  # nothing else is orphaned


@pytest.mark.slow
def test_stale_optuna_heartbeat_fails_and_requeues_a_trial_of_another_host(tmp_path):
    storage = st.open_storage(f"sqlite:///{tmp_path}/hb.db", heartbeat_interval=1, grace_period=1)
    study = st.open_study(storage, "s", ["maximize"])
    trials = st.Trials(study, storage)
    trial = study.ask(DIST)
    trials.set_attr(trial.number, st.OWNER_ATTR, {"host": "some-other-host", "pid": 1, "trial": trial.number})
    trials.beat(trial.number)
    assert trials.reap_orphans(grace_period=1) == []
    time.sleep(2.2)
    assert trials.reap_orphans(grace_period=1) == [trial.number]
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.FAIL, TrialState.WAITING]


def test_orphan_on_another_host_without_optuna_heartbeat_needs_a_stale_mark(tmp_path):
    storage = st.open_storage(f"journal:///{tmp_path}/j.log")
    study = st.open_study(storage, "s", ["maximize"])
    trials = st.Trials(study, storage)
    trial = study.ask()
    trials.set_attr(trial.number, st.OWNER_ATTR, {"host": "some-other-host", "pid": 1, "trial": trial.number})
    trials.set_attr(trial.number, st.HEARTBEAT_ATTR, time.time())
    assert trials.reap_orphans(grace_period=60) == []
    trials.set_attr(trial.number, st.HEARTBEAT_ATTR, time.time() - 120)
    assert trials.reap_orphans(grace_period=60) == [trial.number]


def test_heartbeat_keeps_a_trial_alive(tmp_path):
    storage = st.open_storage(f"journal:///{tmp_path}/j.log")
    study = st.open_study(storage, "s", ["maximize"])
    trials = st.Trials(study, storage)
    trial = study.ask()
    trials.claim(trial.number)
    first = trials.get(trial.number).user_attrs[st.HEARTBEAT_ATTR]
    with st.Heartbeat(trials, interval=0.05) as heartbeat:
        heartbeat.track([trial.number])
        time.sleep(0.3)
    assert trials.get(trial.number).user_attrs[st.HEARTBEAT_ATTR] > first


def test_surplus_beyond_the_budget_and_duplicate_grid_points(study_and_trials):
    study, trials = study_and_trials
    dist = {"x": optuna.distributions.CategoricalDistribution([1, 2, 3])}
    study.enqueue_trial({"x": 1})
    study.enqueue_trial({"x": 1})  # two processes queued the same grid point
    first = study.ask(dist)
    study.tell(first, 1.0)
    second = study.ask(dist)
    all_trials = study.get_trials(deepcopy=False)
    assert st.surplus_reason(all_trials, all_trials[1], budget=2, is_grid=False) is None
    assert "budget" in st.surplus_reason(all_trials, all_trials[1], budget=1, is_grid=False)
    assert "grid point already taken by trial 0" == st.surplus_reason(all_trials, all_trials[1], 5, True)
    trials.mark_surplus(second.number, "test")
    assert [t.number for t in st.counted_trials(study.get_trials(deepcopy=False))] == [first.number]


def test_grid_queue_keeps_written_order_survives_a_failing_last_point_and_requeues(study_and_trials):
    study, trials = study_and_trials
    space = {"h": [128, 16, 64], "l": [2, 1]}
    assert st.queue_grid(study, space) == 6
    assert st.queue_grid(study, space) == 0  # already queued: nothing added
    dist = {name: optuna.distributions.CategoricalDistribution(values) for name, values in space.items()}
    seen = []
    for k in range(6):  # the last point fails
        trial = study.ask(dist)
        seen.append((trial.params["h"], trial.params["l"]))
        study.tell(trial, 1.0 if k < 5 else None, TrialState.COMPLETE if k < 5 else TrialState.FAIL)
    assert seen == [(128, 2), (128, 1), (16, 2), (16, 1), (64, 2), (64, 1)]
    assert st.uncovered_grid_points(space, study.get_trials(deepcopy=False)) == []
    assert st.queue_grid(study, space) == 0  # a failed point is taken (not re-run)


def test_grid_point_of_an_interrupted_trial_is_requeued_once(study_and_trials):
    study, trials = study_and_trials
    space = {"h": [1, 2, 3]}
    dist = {"h": optuna.distributions.CategoricalDistribution([1, 2, 3])}
    st.queue_grid(study, space)
    a = study.ask(dist)
    assert trials.fail_and_requeue(a.number, "was interrupted")
    assert not trials.fail_and_requeue(a.number, "was interrupted")  # finished already: no second retry
    assert st.uncovered_grid_points(space, study.get_trials(deepcopy=False)) == [{"h": 1}, {"h": 2}, {"h": 3}]
    assert st.queue_grid(study, space) == 0  # its retry is queued already
    assert [study.ask(dist).params["h"] for _ in range(3)] == [2, 3, 1]


def test_search_space_from_hydra_overrides():
    distributions, fixed = search_space(
        [
            "a=choice(1,2)",
            "b=range(0,6,2)",
            "c=tag(log, interval(1e-4, 1e-2))",
            "d=tag(int, interval(1, 8))",
            "e=7",
            "a=3",
        ]
    )
    assert fixed == ["e=7", "a=3"] and "a" not in distributions
    assert distributions["b"] == optuna.distributions.CategoricalDistribution([0, 2, 4])
    assert distributions["c"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert distributions["d"] == optuna.distributions.IntDistribution(1, 8)


def proposals_while_running(sampler, n_running=4):
    """The points ``sampler`` proposes for trials asked while ``n_running`` others still run
    (after 10 finished ones): what parallel workers are handed."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "y": optuna.distributions.FloatDistribution(0, 1)}
    for _ in range(10):
        trial = study.ask(space)
        study.tell(trial, -((trial.params["x"] - 0.3) ** 2) - (trial.params["y"] - 0.6) ** 2)
    return [tuple(study.ask(space).params.values()) for _ in range(n_running)]


def configured_sampler(overrides):
    from gru_attn.config import compose
    from gru_attn.sweep.sweeper import GruOptunaSweeper

    cfg = compose(["hparams_search=optuna", "seed=0", *overrides])
    sweeper = GruOptunaSweeper(
        sampler=cfg.hydra.sweeper.sampler, direction="maximize", storage=None, study_name="s", n_trials=1
    )
    return sweeper._sampler(grid=False, resumed=False)


def test_the_sampler_keeps_optunas_defaults_unless_the_config_sets_them():
    # Optuna's TPE defaults to constant_liar=True: trials asked while others run avoid them;
    # hydra-optuna-sweeper's tpe config pinned it (and multivariate) to False
    default, no_liar = optuna.samplers.TPESampler(seed=0), optuna.samplers.TPESampler(seed=0, constant_liar=False)
    assert proposals_while_running(default) != proposals_while_running(no_liar)  # the scenario tells them apart
    sampler = configured_sampler([])
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert proposals_while_running(sampler) == proposals_while_running(optuna.samplers.TPESampler(seed=0))
    sampler = configured_sampler(["hydra.sweeper.sampler.constant_liar=false"])
    assert proposals_while_running(sampler) == proposals_while_running(
        optuna.samplers.TPESampler(seed=0, constant_liar=False)
    )
    cmaes = configured_sampler(["hydra/sweeper/sampler=cmaes", "hydra.sweeper.sampler.n_startup_trials=3"])
    assert isinstance(cmaes, optuna.samplers.CmaEsSampler)


def test_trial_outcome_from_run_status():
    assert st.trial_outcome("completed", 0.5) == (TrialState.COMPLETE, [0.5])
    assert st.trial_outcome("pruned", -math.inf) == (TrialState.PRUNED, None)
    assert st.trial_outcome("failed", -math.inf) == (TrialState.FAIL, None)
    assert st.trial_outcome(None, 0.25) == (TrialState.COMPLETE, [0.25])
    assert st.trial_outcome("completed", math.nan) == (TrialState.FAIL, None)
    assert st.trial_outcome(None, "not a number") == (TrialState.FAIL, None)


def test_trial_reporter_prunes_a_hopeless_trial_but_never_at_the_last_epoch(tmp_path):
    url = f"journal:///{tmp_path}/j.log"
    study = st.open_study(st.open_storage(url), "s", ["minimize"])
    good = study.ask()
    for epoch, loss in enumerate([1.0, 0.8, 0.7], start=1):
        good.report(loss, epoch)
    study.tell(good, 0.7)
    bad = study.ask()
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    # the job's side: its own connection to the storage, the trial found by number
    reporter = st.TrialReporter.connect(url, "s", bad.number, metric="val/loss", last_epoch=3, pruner=pruner)
    reporter(1, {"val/loss": math.nan})  # ignored
    with pytest.raises(Pruned, match="MedianPruner after epoch 1"):
        reporter(1, {"val/loss": 5.0})
    study.tell(bad.number, None, TrialState.PRUNED)
    pruned = study.get_trials()[bad.number]
    assert pruned.intermediate_values == {1: 5.0} and pruned.value == 5.0  # the sweep sees the job's report
    last = study.ask()
    st.TrialReporter.connect(url, "s", last.number, metric="val/loss", last_epoch=1, pruner=pruner)(
        1, {"val/loss": 9.0}
    )  # no raise


# -- Hydra plugin registration ------------------------------------------------------------------


PLUGIN_CHECK = """
import sys
from hydra.core.config_store import ConfigStore
import gru_attn.train
def listed(group):
    try:
        return ConfigStore.instance().list(group)
    except OSError:  # nothing stored in that group
        return []
assert not [m for m in sys.modules if m.startswith("hydra_plugins")], "importing gru_attn.train registered plugins"
assert "gru_optuna.yaml" not in listed("hydra/sweeper")
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
sweepers = {c.__name__ for c in Plugins.instance().discover(Sweeper)}
launchers = {c.__name__ for c in Plugins.instance().discover(Launcher)}
assert "GruOptunaSweeper" in sweepers and "GpuJoblibLauncher" in launchers, (sweepers, launchers)
assert "gru_optuna.yaml" in listed("hydra/sweeper") and "median.yaml" in listed("hydra/sweeper/pruner")
print("ok")
"""


@pytest.mark.slow
def test_plugins_are_found_through_the_installed_package_not_an_import_side_effect(tmp_path):
    # run outside the repository: only the installed package (hydra_plugins/ + entry points) can provide them
    proc = subprocess.run(
        [sys.executable, "-c", PLUGIN_CHECK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
