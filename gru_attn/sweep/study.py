"""Optuna study bookkeeping for sweeps that resume and that several processes share.

Plain Python on top of Optuna's public trial API (no Hydra). Terms used here:

- **budget**: the total number of trials a sweep asks for (``n_trials``; for a grid, at
  most the grid size). Every sweep process, whenever it starts, works towards the *same*
  total, so re-running an interrupted sweep finishes it instead of adding ``n_trials``.
- **counted trials**: those that use up the budget: COMPLETE, PRUNED, RUNNING and FAIL,
  except an *orphan* that was re-queued and a *surplus* trial (below).
- **owner** and **heartbeat**: every running trial records the sweep process that runs
  it (``host:pid``) and, every ``heartbeat_interval`` seconds, the time it was last seen
  alive (system attributes, so they work on SQLite and PostgreSQL alike).
- **orphan**: a RUNNING trial whose owner is gone: on this host its pid no longer
  exists, elsewhere its heartbeat is older than the grace period. Orphans are marked FAIL
  and their parameters re-queued as a WAITING trial (with the ``failed_trial`` attribute
  of Optuna's ``RetryFailedTrialCallback``), which the next ``ask()`` of any process runs.
- **surplus**: a trial that a process created after the budget was already used up (two
  processes asked at the same moment), or, for a grid, a second copy of a grid point that
  another process took at the same moment. It is marked FAIL with the reason and never run.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import optuna
from optuna.samplers import GridSampler
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import IntegrityError, OperationalError

from gru_attn.engine import Pruned

log = logging.getLogger(__name__)

OWNER_ATTR = "gru_attn:owner"          # "host:pid" of the sweep process running the trial
HEARTBEAT_ATTR = "gru_attn:heartbeat"  # time.time() when that process last marked it alive
SURPLUS_ATTR = "gru_attn:surplus"      # why a trial was created but never run
RETRY_OF_ATTR = "failed_trial"         # number of the orphan a WAITING trial re-runs (Optuna's key)
RUN_DIR_ATTR = "run_dir"               # user attribute: the trial's run directory
GRID_ATTRS = ("grid_id", "search_space")  # GridSampler's bookkeeping, kept by a re-queued trial

_RETRIES = 8  # attempts when concurrent processes create the same database / study


def absolute_storage_url(url: str, base_dir: str | os.PathLike) -> str:
    """``url`` with a relative SQLite path made absolute against ``base_dir``.

    ``sqlite:///multirun/x/optuna.db`` -> ``sqlite:////abs/base/multirun/x/optuna.db``, so
    the sweep process and its jobs (whatever their working directory) open the same file.
    Other URLs are returned unchanged.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix + ":memory:":
        return url
    path = Path(url[len(prefix):])
    if not path.is_absolute():
        path = Path(base_dir) / path
    return prefix + str(path.resolve())


def masked_url(url: str) -> str:
    """``url`` with its password hidden, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return repr(make_url(url))
    except Exception:  # not a database URL: nothing to hide
        return url


def _retry_on_race(action, what: str):
    """Run ``action()``, retrying when another process creates the same tables / study."""
    for attempt in range(_RETRIES):
        try:
            return action()
        except (OperationalError, IntegrityError, optuna.exceptions.StorageInternalError) as exc:
            if attempt == _RETRIES - 1:
                raise
            log.info("%s: retrying after a concurrent-access error (%s)", what, type(exc).__name__)
            time.sleep(0.5 * (attempt + 1))


def open_storage(url: str) -> RDBStorage:
    """An RDB storage for ``url`` (SQLite waits up to 60 s for a lock; PostgreSQL pings connections).

    The SQLite file's folder is created if needed.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    return _retry_on_race(lambda: RDBStorage(url, engine_kwargs=engine_kwargs), f"open storage {url}")


def open_study(storage: RDBStorage, study_name: str, directions: Sequence[str],
               sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """Create the study, or load it when it exists (also when another process creates it now)."""
    return _retry_on_race(
        lambda: optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=list(directions), load_if_exists=True),
        f"create or load study {study_name!r}")


def owner_tag() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphan(trial: FrozenTrial, grace_period: float, now: float | None = None) -> bool:
    """Whether a RUNNING ``trial``'s owner is gone: a dead pid on this host, or elsewhere a
    heartbeat older than ``grace_period`` seconds."""
    if trial.state != TrialState.RUNNING or OWNER_ATTR not in trial.system_attrs:
        return False
    host, _, pid = str(trial.system_attrs[OWNER_ATTR]).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return not _pid_alive(int(pid))
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    return beat is not None and (now if now is not None else time.time()) - float(beat) > grace_period


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the trials that a later trial re-runs."""
    return {int(t.system_attrs[RETRY_OF_ATTR]) for t in trials if RETRY_OF_ATTR in t.system_attrs}


def counted_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that use up the budget (see the module docstring)."""
    retried = retried_numbers(trials)
    return [t for t in trials
            if t.state != TrialState.WAITING and SURPLUS_ATTR not in t.system_attrs
            and not (t.state == TrialState.FAIL and t.number in retried)]


def finish_trial(study: optuna.Study, trial_id: int, state: TrialState) -> bool:
    """Set a trial's state to FAIL/PRUNED without values; False if it had finished already."""
    try:
        return study._storage.set_trial_state(trial_id, state)
    except RuntimeError:  # finished meanwhile (told by its owner, or reaped by another process)
        return False


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Add a WAITING copy of ``trial``'s parameters (and grid point), marked as its retry."""
    system_attrs = {k: trial.system_attrs[k] for k in GRID_ATTRS if k in trial.system_attrs}
    system_attrs[RETRY_OF_ATTR] = int(trial.system_attrs.get(RETRY_OF_ATTR, trial.number))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since Optuna 2.0
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params=trial.params,
                                                  distributions=trial.distributions, system_attrs=system_attrs))


def fail_and_requeue(study: optuna.Study, trial: FrozenTrial, why: str) -> None:
    """Mark a running ``trial`` FAIL and queue its parameters again (unless someone finished it first)."""
    if finish_trial(study, trial._trial_id, TrialState.FAIL):
        requeue(study, trial)
        log.warning("trial %d %s: marked failed; its parameters %s are queued again", trial.number, why, trial.params)


def reap_orphans(study: optuna.Study, grace_period: float) -> list[int]:
    """Fail and re-queue the study's orphaned trials; returns their numbers."""
    now = time.time()
    orphans = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if is_orphan(t, grace_period, now)]
    for trial in orphans:
        fail_and_requeue(study, trial, f"was orphaned (its sweep process {trial.system_attrs[OWNER_ATTR]} is gone)")
    return [t.number for t in orphans]


def claim(study: optuna.Study, trial_id: int) -> None:
    """Record this process as the owner of a trial it just asked for."""
    study._storage.set_trial_system_attr(trial_id, OWNER_ATTR, owner_tag())
    study._storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())


class Heartbeat:
    """A background thread that marks this process's running trials alive every ``interval`` seconds."""

    def __init__(self, study: optuna.Study, interval: float):
        self._study, self._interval = study, float(interval)
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gru_attn-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def track(self, trial_ids: Iterable[int]) -> None:
        with self._lock:
            self._trial_ids.update(trial_ids)

    def untrack(self, trial_ids: Iterable[int]) -> None:
        with self._lock:
            self._trial_ids.difference_update(trial_ids)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                trial_ids = list(self._trial_ids)
            for trial_id in trial_ids:
                try:
                    self._study._storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
                except Exception as exc:  # finished meanwhile, or a transient database error
                    log.debug("heartbeat of trial id %d skipped: %s", trial_id, exc)


def sync_reports(study: optuna.Study, storage: RDBStorage, trial_id: int) -> None:
    """Copy the epochs a job reported to its trial (through its own connection) into ``study``.

    ``study`` caches the trials its process created and does not re-read them, so it
    would not see those reports: TPE would miss them, and a PRUNED trial would get no
    value. ``storage`` is the same database without the cache.
    """
    for step, value in storage.get_trial(trial_id).intermediate_values.items():
        study._storage.set_trial_intermediate_value(trial_id, step, value)


def mark_surplus(study: optuna.Study, trial_id: int, reason: str) -> None:
    """Record why a just-asked trial will not run, and mark it FAIL."""
    study._storage.set_trial_system_attr(trial_id, SURPLUS_ATTR, reason)
    finish_trial(study, trial_id, TrialState.FAIL)


def surplus_reason(trials: Sequence[FrozenTrial], trial: FrozenTrial, budget: int, is_grid: bool) -> str | None:
    """Why the just-asked ``trial`` must not run (beyond the budget / a grid point taken), or None."""
    earlier = [t for t in counted_trials(trials) if t.number < trial.number]
    if len(earlier) >= budget:
        return f"budget of {budget} trials already used up by other processes"
    if is_grid:
        for t in earlier:
            if t.params == trial.params:
                return f"grid point already taken by trial {t.number}"
    return None


def grid_points(search_space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every point of a grid ``{name: values}`` as a ``{name: value}`` dict."""
    names = sorted(search_space)
    return [dict(zip(names, values)) for values in itertools.product(*(search_space[n] for n in names))]


def uncovered_grid_points(search_space: Mapping[str, Sequence[Any]], trials: Sequence[FrozenTrial]) -> list[dict]:
    """Grid points that no counted trial has taken (finished or running)."""
    taken = [t.params for t in counted_trials(trials)]
    return [p for p in grid_points(search_space) if p not in taken]


class ResumableGridSampler(GridSampler):
    """:class:`optuna.samplers.GridSampler` for sweeps that resume and run in several processes.

    - It takes the grid points in the order the values were written (``choice(128, 256)``:
      128 first), the first free one each time, instead of at random.
    - A grid point counts as taken when a *counted* trial (see the module docstring) or a
      re-queued WAITING trial holds it; an orphan or a surplus trial does not take it.
    - A re-queued trial keeps the grid point it was created for (GridSampler would give
      it another free point, leaving that one marked taken but never run).
    - It never calls ``study.stop()`` after the last grid point (outside ``optimize()``
      that raises, e.g. when the last grid point fails); the sweeper stops by itself.

    Grid ids stay GridSampler's (values sorted), so processes agree on them whatever order
    their commands wrote the values in.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]]) -> None:
        super().__init__(search_space)
        written = itertools.product(*(search_space[name] for name in self._param_names))
        self._preferred = list(dict.fromkeys(self._all_grids.index(point) for point in written))

    def sample_relative(self, study, trial, search_space):
        if "grid_id" in trial.system_attrs:
            return {}
        free = set(self._get_unvisited_grid_ids(study))
        if not free:  # every point taken: GridSampler re-evaluates one (the sweeper marks it surplus)
            return super().sample_relative(study, trial, search_space)
        study._storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
        study._storage.set_trial_system_attr(trial._trial_id, "grid_id",
                                             next(i for i in self._preferred if i in free))
        return {}

    def after_trial(self, study, trial, state, values) -> None:
        return None

    def _get_unvisited_grid_ids(self, study) -> list[int]:
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        holders = counted_trials(trials) + [t for t in trials if t.state == TrialState.WAITING]
        taken = {t.system_attrs["grid_id"] for t in holders
                 if "grid_id" in t.system_attrs and self._same_search_space(t.system_attrs["search_space"])}
        return [i for i in range(len(self._all_grids)) if i not in taken]


def trial_outcome(run_status: str | None, value: Any) -> tuple[TrialState, list[float] | None]:
    """Optuna state (and values) of a finished job, from its run's ``metrics.json`` status and return value.

    ``pruned`` -> PRUNED, ``failed`` -> FAIL, otherwise COMPLETE when the value is a
    finite float, else FAIL.
    """
    if run_status == "pruned":
        return TrialState.PRUNED, None
    if run_status == "failed":
        return TrialState.FAIL, None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return TrialState.FAIL, None
    return (TrialState.COMPLETE, [value]) if math.isfinite(value) else (TrialState.FAIL, None)


class TrialReporter:
    """The per-epoch callback of a training job that belongs to a running Optuna trial.

    Reports the epoch's ``metric`` as the trial's intermediate value (step = epoch) and
    raises :class:`gru_attn.engine.Pruned` when the study's pruner says the trial is
    hopeless. The last epoch is reported but never pruned (nothing left to save).
    """

    def __init__(self, study: optuna.Study, trial_number: int, metric: str, last_epoch: int):
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, int(trial_number))
        self.trial = optuna.trial.Trial(study, trial_id)
        self.metric, self.last_epoch = metric, int(last_epoch)

    @classmethod
    def connect(cls, url: str, study_name: str, trial_number: int, metric: str, last_epoch: int,
                pruner: optuna.pruners.BasePruner | None) -> "TrialReporter":
        """Open the trial ``trial_number`` of ``study_name`` in the storage at ``url``."""
        study = optuna.load_study(study_name=study_name, storage=open_storage(url),
                                  sampler=optuna.samplers.RandomSampler(), pruner=pruner)
        return cls(study, trial_number, metric, last_epoch)

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> None:
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), step=int(epoch))
        if epoch < self.last_epoch and self.trial.should_prune():
            raise Pruned(f"pruned by {type(self.trial.study.pruner).__name__} after epoch {epoch} "
                         f"({self.metric} = {float(value):.4g})")
