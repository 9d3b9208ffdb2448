"""The sweep loop behind ``hydra/sweeper=gru_optuna``: Hydra's ``Sweeper`` on Optuna's ask/tell API.

- The search space is ``hydra.sweeper.params`` plus the command line's sweeps, in Hydra's
  override syntax: ``choice(a, b)`` and ``range(a, b[, step])`` are categorical,
  ``interval(lo, hi)`` is a float, ``tag(int, interval(...))`` an int, ``tag(log, ...)``
  log-scaled. Plain overrides are fixed for every trial.
- It works towards the study's **total** trial count: a re-run, or a second process on
  the same study, runs only what is missing (see :mod:`gru_attn.sweep.study`).
- The sampler (``hydra/sweeper/sampler=tpe`` etc.) has Optuna's own defaults unless
  the config sets a value (:mod:`gru_attn.sweep.schema`).
- A grid (``hydra/sweeper/sampler=grid``) is put in the study's queue in written order
  (``enqueue_trial``); every process takes the next queued point.
- Each trial's run directory is ``<sweep dir>/<trial number>``, unique in the study, so
  resuming never overwrites a finished run, and processes can share one sweep dir.
- Trials orphaned by a killed process are marked failed and re-queued; each job gets its
  trial number (``optuna_trial``) to report epochs and be pruned; the trial's final state
  is read from the run's ``metrics.json`` (``pruned`` -> PRUNED, ``failed`` -> FAIL).
- A failing point (also the last one) is recorded as FAIL and the sweep goes on.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, List, Sequence

import hydra.utils
import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from gru_attn.errors import InputError
from gru_attn.files import write_json
from gru_attn.sweep import study as st
from gru_attn.sweep.runs import STUDY_FILE, run_status
from gru_attn.validation import SWEEPER_SCHEMA, check_values

log = logging.getLogger(__name__)

_MAX_SURPLUS_IN_A_ROW = 5
GRID_SAMPLER = "optuna.samplers.GridSampler"


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


def search_space(overrides: Sequence[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(distributions by parameter, fixed ``key=value`` overrides) from Hydra override strings."""
    distributions: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.get_key_element()
        if not override.is_sweep_override():
            fixed.append(f"{key}={override.get_value_element_as_str()}")
            continue
        sweep = override.value()
        if isinstance(sweep, (ChoiceSweep, RangeSweep)):
            distributions[key] = CategoricalDistribution(list(override.sweep_iterator()))
        elif isinstance(sweep, IntervalSweep):
            log_scale = "log" in sweep.tags
            if "int" in sweep.tags:
                distributions[key] = IntDistribution(int(sweep.start), int(sweep.end), log=log_scale)
            else:
                distributions[key] = FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale)
        else:
            raise ValueError(f"{key}: unsupported sweep {override.input_line!r} (use choice, range or interval)")
    for name in [f.split("=", 1)[0] for f in fixed]:
        distributions.pop(name, None)
    return distributions, fixed


def _override(name: str, value: Any) -> str:
    return f"{name}={value}"


def _job_error(ret: JobReturn) -> str:
    """The exception of a failed job, as text."""
    try:
        ret.return_value  # noqa: B018 (the property re-raises the job's exception)
    except BaseException as exc:  # JobReturn re-raises the job's exception
        return f"{type(exc).__name__}: {exc}"
    return "unknown error"


class GruOptunaSweeper(Sweeper):
    """See the module docstring; the arguments are :class:`gru_attn.sweep.schema.GruOptunaSweeperConf`."""

    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int | None = None,
        max_failure_rate: float = 0.0,
        params: dict | None = None,
        pruner: Any = None,
        heartbeat_interval: float = 30.0,
        grace_period: float | None = None,
        reseed: bool = False,
    ) -> None:
        problems = check_values(
            {
                "hydra.sweeper.n_trials": n_trials,
                "hydra.sweeper.n_jobs": n_jobs,
                "hydra.sweeper.max_failure_rate": max_failure_rate,
                "hydra.sweeper.heartbeat_interval": heartbeat_interval,
                "hydra.sweeper.grace_period": grace_period,
            },
            SWEEPER_SCHEMA,
        )
        if problems:  # before any study is opened or run started
            raise InputError("\n".join(problems))
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        self.direction = [direction] if isinstance(direction, str) else list(direction)
        self.storage, self.study_name = storage, study_name or "optuna"
        self.n_trials, self.n_jobs, self.max_failure_rate = int(n_trials), n_jobs, float(max_failure_rate)
        self.params = dict(params or {})
        self.heartbeat_interval = float(heartbeat_interval)
        self.grace_period = float(grace_period) if grace_period is not None else 4.0 * self.heartbeat_interval
        self.reseed = bool(reseed)
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        self.job_idx = 0
        self._surplus_in_a_row = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # -- setup -------------------------------------------------------------------------------

    def _sampler(self, grid: bool, resumed: bool) -> optuna.samplers.BaseSampler:
        cfg = OmegaConf.to_container(self.sampler_cfg, resolve=True) if self.sampler_cfg is not None else {}
        if grid:  # the grid is queued (study.queue_grid); trials beyond the queue are surplus
            return optuna.samplers.RandomSampler(seed=cfg.get("seed"))
        sampler = (
            hydra.utils.instantiate(cfg, _execution_whitelist_=["optuna.samplers.*"])
            if cfg
            else optuna.samplers.TPESampler()
        )
        if self.reseed or resumed:
            sampler.reseed_rng()  # a resumed / shared study: don't replay the seeded sequence
        return sampler

    def _sweep_path(self) -> Path:
        """The sweep directory (``hydra.sweep.dir``), absolute."""
        return (Path(self.config.hydra.runtime.cwd) / str(self.config.hydra.sweep.dir)).resolve()

    def _open_study(self, grid: bool) -> tuple[optuna.Study, st.Trials]:
        if len(self.direction) != 1:
            raise ValueError(f"hydra.sweeper.direction={self.direction}: gru_optuna optimises one objective")
        if self.storage is None:
            log.warning(
                "hydra.sweeper.storage is null: the study lives in memory (no resume, no pruning, "
                "no sharing between processes)"
            )
            storage: Any = optuna.storages.InMemoryStorage()
            url = None
        else:
            url = st.absolute_storage_url(str(self.storage), self.config.hydra.runtime.cwd)
            self._check_sweep_dir(url)
            storage = st.open_storage(url, self.heartbeat_interval, self.grace_period)
        study = st.open_study(storage, self.study_name, self.direction)
        study.sampler = self._sampler(grid, resumed=bool(study.get_trials(deepcopy=False)))
        if url is not None:
            self._sweep_path().mkdir(parents=True, exist_ok=True)
            write_json(
                self._sweep_path() / STUDY_FILE,
                {"storage": url, "study_name": study.study_name, "direction": self.direction[0]},
            )
        return study, st.Trials(study, storage)

    def _check_sweep_dir(self, url: str) -> None:
        """InputError when the sweep directory belongs to another study (its ``study.json`` names another
        study or storage): its runs are left alone."""
        record = self._sweep_path() / STUDY_FILE
        if not record.is_file():
            return
        try:
            other = json.loads(record.read_text())
        except (OSError, ValueError):
            return
        if isinstance(other, dict) and (other.get("study_name"), other.get("storage")) != (self.study_name, url):
            raise InputError(
                f"hydra.sweep.dir={self._sweep_path()}: holds the runs of study "
                f"{other.get('study_name')!r} ({st.masked_url(str(other.get('storage')))}), not of "
                f"{self.study_name!r}; use another hydra.sweep.dir (the runs there are kept)"
            )

    def _batch_size(self) -> int:
        return int(self.n_jobs) if self.n_jobs else launcher_parallelism(self.launcher)

    # -- the loop ----------------------------------------------------------------------------

    def sweep(self, arguments: List[str]) -> None:
        assert self.config is not None and self.launcher is not None
        distributions, fixed = search_space([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        grid = None
        if self.sampler_cfg is not None and self.sampler_cfg.get("_target_") == GRID_SAMPLER:
            bad = [k for k, d in distributions.items() if not isinstance(d, CategoricalDistribution)]
            if bad:
                raise ValueError(f"a grid needs choice(...) or range(...) for {', '.join(bad)}")
            grid = {k: list(d.choices) for k, d in distributions.items()}
        budget = self.n_trials if grid is None else min(self.n_trials, len(st.grid_points(grid)))
        study, trials = self._open_study(grid is not None)
        where = st.masked_url(str(self.storage)) if self.storage else "memory"
        log.info(
            "Study %r in %s: %d trials in total, %d per batch, sampler %s, pruner %s",
            study.study_name,
            where,
            budget,
            self._batch_size(),
            "queued grid" if grid else type(study.sampler).__name__,
            (self.pruner_cfg or {}).get("_target_", "none"),
        )
        with st.Heartbeat(trials, self.heartbeat_interval) as heartbeat, _sigterm_as_interrupt(), st.quiet_optuna():
            while (batch := self._ask_batch(study, trials, budget, grid, distributions, fixed)) is not None:
                if batch:
                    self._run_batch(study, trials, batch, heartbeat)
        self._report(study)

    def _free_slots(self, study: optuna.Study, budget: int, grid: dict | None) -> tuple[int, int]:
        """(trials this process may start now, trials other processes are running)."""
        all_trials = study.get_trials(deepcopy=False)
        counted = st.counted_trials(all_trials)
        free = budget - len(counted)
        if grid is not None:
            free = min(free, len(st.uncovered_grid_points(grid, all_trials)))
        return free, sum(t.state == TrialState.RUNNING for t in counted)

    def _ask_batch(self, study, trials, budget, grid, distributions, fixed):
        """The next batch of (trial, job overrides); None when the study is done.

        Waits while only other processes' trials are left (one of them may die and need a
        re-run). Empty when a trial just asked turned out surplus (ask again after recounting).
        """
        waiting_logged = False
        while True:
            trials.reap_orphans(self.grace_period)
            free, running = self._free_slots(study, budget, grid)
            if free > 0:
                break
            if running == 0:
                return None
            if not waiting_logged:
                log.info(
                    "All %d trials are taken; waiting for the %d still running in other processes "
                    "(to re-run any of them whose process dies)",
                    budget,
                    running,
                )
                waiting_logged = True
            time.sleep(min(self.heartbeat_interval, 10.0))
        if grid is not None:
            st.queue_grid(study, grid)
        batch = []
        while len(batch) < min(self._batch_size(), free):
            trial = study.ask(distributions)
            trials.claim(trial.number)
            reason = st.surplus_reason(
                study.get_trials(deepcopy=False), trials.get(trial.number), budget, grid is not None
            )
            if reason is not None:  # another process took the slot / grid point a moment ago: recount
                trials.mark_surplus(trial.number, reason)
                log.info("Trial %d not run: %s", trial.number, reason)
                self._surplus_in_a_row += 1
                if self._surplus_in_a_row >= _MAX_SURPLUS_IN_A_ROW:
                    log.error("%d surplus trials in a row: stopping this sweep process", self._surplus_in_a_row)
                    return None
                break
            self._surplus_in_a_row = 0
            overrides = [_override(k, v) for k, v in trial.params.items()] + fixed
            batch.append((trial, overrides + [f"hydra.sweep.subdir={trial.number}", f"++optuna_trial={trial.number}"]))
        return batch

    def _run_batch(self, study, trials, batch, heartbeat) -> None:
        """Launch one batch of (trial, overrides), then tell each trial its outcome."""
        numbers = [t.number for t, _ in batch]
        for trial, _ in batch:
            run_dir = self._sweep_path() / str(trial.number)
            if (run_dir / "metrics.json").exists():
                for t, _ in batch:  # nothing was launched: these trials did not run
                    study.tell(t.number, state=TrialState.FAIL)
                raise InputError(
                    f"hydra.sweep.dir={self._sweep_path()}: {run_dir.name}/ already holds a run, not of "
                    f"trial {trial.number} of study {study.study_name!r}: use another hydra.sweep.dir "
                    "for this study (the runs there are kept)"
                )
            trial.set_user_attr(st.RUN_DIR_ATTR, str(run_dir))
        heartbeat.track(numbers)
        try:
            returns = self.launcher.launch([o for _, o in batch], initial_job_idx=self.job_idx)
        except BaseException:
            for number in numbers:
                trials.fail_and_requeue(number, "was interrupted")
            raise
        finally:
            heartbeat.untrack(numbers)
        self.job_idx += len(returns)
        crashed = []
        for (trial, _), ret in zip(batch, returns):
            if ret.status == JobStatus.FAILED:
                crashed.append(ret)
                state, values = TrialState.FAIL, None
                log.warning("Trial %d crashed: %s", trial.number, _job_error(ret))
            else:
                state, values = st.trial_outcome(run_status(self._sweep_path() / str(trial.number)), ret.return_value)
            try:
                study.tell(trial.number, values, state)
            except (RuntimeError, ValueError) as exc:  # finished meanwhile: another process took it for an orphan
                log.warning("Trial %d: could not record %s (%s)", trial.number, state.name, exc)
                continue
            log.info("Trial %d %s%s: %s", trial.number, state.name, f" {values[0]:.6g}" if values else "", trial.params)
        if crashed and len(crashed) / len(returns) > self.max_failure_rate:
            log.error(
                "%d of %d jobs crashed (hydra.sweeper.max_failure_rate=%s)",
                len(crashed),
                len(returns),
                self.max_failure_rate,
            )
            for ret in crashed:
                ret.return_value  # noqa: B018 (re-raises the job's exception with its traceback)

    def _report(self, study: optuna.Study) -> None:
        """Log the best trial and write ``optimization_results.yaml`` (as hydra-optuna-sweeper does)."""
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        states = [t.state.name for t in st.counted_trials(study.get_trials(deepcopy=False))]
        log.info("Study %r: %s", study.study_name, {s: states.count(s) for s in sorted(set(states))})
        if not complete:
            log.warning("No trial completed")
            return
        best = study.best_trial
        log.info("Best trial %d: value %s, parameters %s", best.number, best.value, best.params)
        self._sweep_path().mkdir(parents=True, exist_ok=True)
        OmegaConf.save(
            OmegaConf.create(
                {"name": "optuna", "best_trial": best.number, "best_params": best.params, "best_value": best.value}
            ),
            self._sweep_path() / "optimization_results.yaml",
        )
