"""The sweep loop behind ``hydra/sweeper=gru_optuna`` (hydra-optuna-sweeper, made resumable).

:class:`ResumableOptunaSweeperImpl` reuses the plugin's parsing of the search space
(``hydra.sweeper.params``, command-line sweeps) and replaces its loop:

- it works towards the study's **total** trial count: a re-run, or a second process on
  the same study, runs only what is missing (see :mod:`gru_attn.sweep.study`);
- each trial's run directory is ``<sweep dir>/<trial number>``, unique in the study, so
  resuming never overwrites a finished run, and processes can share one sweep dir;
- trials orphaned by a killed process are marked failed and their parameters re-queued;
- each job learns its trial number (``optuna_trial``) to report epochs to it and be
  pruned (:class:`gru_attn.sweep.study.TrialReporter`); the trial's final state is read
  from the run's ``metrics.json`` (``pruned`` -> PRUNED, ``failed`` -> FAIL);
- a failing grid point (also the last one) is recorded as FAIL and the sweep goes on.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, List

import optuna
from hydra.core.utils import JobStatus
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from omegaconf import OmegaConf
from optuna.samplers import GridSampler
from optuna.trial import TrialState

from gru_attn.files import write_json
from gru_attn.sweep import study as st
from gru_attn.sweep.runs import STUDY_FILE, run_status

log = logging.getLogger(__name__)

_MAX_SURPLUS_IN_A_ROW = 5


@contextmanager
def _sigterm_as_interrupt():
    """Within the block, SIGTERM raises KeyboardInterrupt (like Ctrl-C), so in-flight trials get re-queued."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def launcher_parallelism(launcher: Any) -> int:
    """How many jobs ``launcher`` runs at once (joblib ``n_jobs``, submitit ``array_parallelism``, else 1)."""
    joblib_params = getattr(launcher, "joblib", None)
    if joblib_params is not None:
        n = int(joblib_params.get("n_jobs", 1))
        return (os.cpu_count() or 1) if n < 0 else max(n, 1)
    submitit_params = getattr(launcher, "params", None)
    if isinstance(submitit_params, dict) and submitit_params.get("array_parallelism"):
        return int(submitit_params["array_parallelism"])
    return 1


class ResumableOptunaSweeperImpl(OptunaSweeperImpl):
    """See the module docstring. Arguments beyond the plugin's: ``pruner`` (used by the jobs),
    ``heartbeat_interval`` and ``grace_period`` (seconds, orphan detection), ``reseed``
    (ignore the sampler's seed: for the second and further processes on one study)."""

    def __init__(self, *args: Any, pruner: Any = None, heartbeat_interval: float = 30.0,
                 grace_period: float | None = None, reseed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reseed = bool(reseed)
        self._database = None  # the study's storage without Optuna's per-process cache
        self._surplus_in_a_row = 0
        self.pruner = pruner
        self.heartbeat_interval = float(heartbeat_interval)
        self.grace_period = float(grace_period) if grace_period is not None else 4.0 * self.heartbeat_interval

    # -- setup -------------------------------------------------------------------------------

    def _search_space(self, arguments: List[str]):
        """(distributions, fixed params, grid or None) from the config's params and the command line."""
        self._process_searchspace_config()
        distributions, fixed = create_params_from_overrides(self._parse_sweeper_params_config() + list(arguments))
        if self.search_space_distributions:
            distributions = {**self.search_space_distributions, **distributions}
        for name in fixed:
            distributions.pop(name, None)
        grid = None
        if isinstance(self.sampler, functools.partial) and issubclass(self.sampler.func, GridSampler):
            grid = {name: self._to_grid_sampler_choices(d) for name, d in distributions.items()}
            self.sampler = st.ResumableGridSampler(grid)
        return distributions, fixed, grid

    def _open_study(self) -> optuna.Study:
        directions = self._get_directions()
        if len(directions) != 1:
            raise ValueError(f"hydra.sweeper.direction={directions}: gru_optuna optimises one objective")
        if self.storage is None:
            log.warning("hydra.sweeper.storage is null: the study lives in memory (no resume, no pruning, "
                        "no sharing between processes)")
            return optuna.create_study(study_name=self.study_name, sampler=self.sampler, directions=directions)
        url = st.absolute_storage_url(str(self.storage), self.config.hydra.runtime.cwd)
        self._database = st.open_storage(url)
        study = st.open_study(self._database, self.study_name, directions, sampler=self.sampler)
        if (self.reseed or study.get_trials(deepcopy=False)) and hasattr(self.sampler, "reseed_rng"):
            self.sampler.reseed_rng()  # a resumed / shared study: don't replay the seeded sequence
        self._sweep_path().mkdir(parents=True, exist_ok=True)
        record = {"storage": url, "study_name": study.study_name, "direction": directions[0]}
        write_json(self._sweep_path() / STUDY_FILE, record)
        return study

    def _batch_size(self) -> int:
        return int(self.n_jobs) if self.n_jobs else launcher_parallelism(self.launcher)

    # -- the loop ----------------------------------------------------------------------------

    def sweep(self, arguments: List[str]) -> None:
        assert self.config is not None and self.launcher is not None
        distributions, fixed, grid = self._search_space(arguments)
        budget = int(self.n_trials)
        if grid is not None:
            budget = min(budget, len(st.grid_points(grid)))
        study = self._open_study()
        where = st.masked_url(str(self.storage)) if self.storage else "memory"
        log.info("Study %r in %s: %d trials in total, %d per batch, sampler %s, pruner %s", study.study_name, where,
                 budget, self._batch_size(), type(self.sampler).__name__, type(self.pruner).__name__)
        with st.Heartbeat(study, self.heartbeat_interval) as heartbeat, _sigterm_as_interrupt():
            while (batch := self._ask_batch(study, budget, grid, distributions, fixed)) is not None:
                if batch:
                    self._run_batch(study, batch, heartbeat)
        self._report(study)

    def _free_slots(self, study: optuna.Study, budget: int, grid: dict | None) -> tuple[int, int]:
        """(trials this process may start now, trials other processes are running)."""
        trials = study.get_trials(deepcopy=False)
        counted = st.counted_trials(trials)
        free = budget - len(counted)
        if grid is not None:
            free = min(free, len(st.uncovered_grid_points(grid, trials)))
        return free, sum(t.state == TrialState.RUNNING for t in counted)

    def _ask_batch(self, study, budget, grid, distributions, fixed):
        """The next batch of (trial, job overrides); None when the study is done.

        Waits while only other processes' trials are left (one of them may die and need a
        re-run). Empty when a trial just asked turned out surplus (ask again after recounting).
        """
        waiting_logged = False
        while True:
            st.reap_orphans(study, self.grace_period)
            free, running = self._free_slots(study, budget, grid)
            if free > 0:
                break
            if running == 0:
                return None
            if not waiting_logged:
                log.info("All %d trials are taken; waiting for the %d still running in other processes "
                         "(to re-run any of them whose process dies)", budget, running)
                waiting_logged = True
            time.sleep(min(self.heartbeat_interval, 10.0))
        batch = []
        while len(batch) < min(self._batch_size(), free):
            trial = study.ask()
            st.claim(study, trial._trial_id)
            (trial_overrides,) = self._configure_trials([trial], distributions, fixed)
            reason = st.surplus_reason(study.get_trials(deepcopy=False), study._storage.get_trial(trial._trial_id),
                                       budget, grid is not None)
            if reason is not None:  # another process took the slot / grid point a moment ago: recount
                st.mark_surplus(study, trial._trial_id, reason)
                log.info("Trial %d not run: %s", trial.number, reason)
                self._surplus_in_a_row += 1
                if self._surplus_in_a_row >= _MAX_SURPLUS_IN_A_ROW:
                    log.error("%d surplus trials in a row: stopping this sweep process", self._surplus_in_a_row)
                    return None
                break
            self._surplus_in_a_row = 0
            batch.append((trial, list(trial_overrides) + [f"hydra.sweep.subdir={trial.number}",
                                                          f"++optuna_trial={trial.number}"]))
        return batch

    def _sweep_path(self) -> Path:
        """The sweep directory (``hydra.sweep.dir``), absolute."""
        return (Path(self.config.hydra.runtime.cwd) / str(self.sweep_dir)).resolve()

    def _run_dir(self, trial_number: int) -> Path:
        return self._sweep_path() / str(trial_number)

    def _run_batch(self, study, batch, heartbeat) -> None:
        """Launch one batch of (trial, overrides), then tell each trial its outcome."""
        trials, overrides = [t for t, _ in batch], [o for _, o in batch]
        for trial in trials:
            run_dir = self._run_dir(trial.number)
            if (run_dir / "metrics.json").exists():
                raise RuntimeError(f"{run_dir} already holds a run, not of trial {trial.number} of study "
                                   f"{study.study_name!r}: use another hydra.sweep.dir for this study")
            trial.set_user_attr(st.RUN_DIR_ATTR, str(run_dir))
        ids = [t._trial_id for t in trials]
        heartbeat.track(ids)
        try:
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
        except BaseException:
            for trial in trials:
                st.fail_and_requeue(study, study._storage.get_trial(trial._trial_id), "was interrupted")
            raise
        finally:
            heartbeat.untrack(ids)
        self.job_idx += len(returns)
        crashed = []
        for trial, ret in zip(trials, returns):
            if ret.status == JobStatus.FAILED:
                crashed.append(ret)
                state, values = TrialState.FAIL, None
                log.warning("Trial %d crashed: %r", trial.number, ret._return_value)
            else:
                state, values = st.trial_outcome(run_status(self._run_dir(trial.number)), ret.return_value)
            if self._database is not None:
                st.sync_reports(study, self._database, trial._trial_id)
            try:
                study.tell(trial, values, state)
            except RuntimeError as exc:  # finished meanwhile: another process took it for an orphan
                log.warning("Trial %d: could not record %s (%s)", trial.number, state.name, exc)
                continue
            log.info("Trial %d %s%s: %s", trial.number, state.name, f" {values[0]:.6g}" if values else "",
                     trial.params)
        if crashed and len(crashed) / len(returns) > self.max_failure_rate:
            log.error("%d of %d jobs crashed (hydra.sweeper.max_failure_rate=%s)", len(crashed), len(returns),
                      self.max_failure_rate)
            for ret in crashed:
                ret.return_value  # re-raises the job's exception with its traceback

    def _report(self, study: optuna.Study) -> None:
        """Log the best trial and write ``optimization_results.yaml`` (as the plugin does)."""
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        states = [t.state.name for t in st.counted_trials(study.get_trials(deepcopy=False))]
        log.info("Study %r: %s", study.study_name, {s: states.count(s) for s in sorted(set(states))})
        if not complete:
            log.warning("No trial completed")
            return
        best = study.best_trial
        log.info("Best trial %d: value %s, parameters %s", best.number, best.value, best.params)
        OmegaConf.save(OmegaConf.create({"name": "optuna", "best_trial": best.number, "best_params": best.params,
                                         "best_value": best.value}),
                       self._sweep_path() / "optimization_results.yaml")
