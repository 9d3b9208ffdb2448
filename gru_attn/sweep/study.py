"""Optuna study bookkeeping for sweeps that resume and that several processes share.

Plain Python on Optuna's public API (no Hydra). Terms used here:

- **storage**: where the study lives, given as a URL: ``sqlite:///file.db`` (one machine),
  ``journal:///file.log`` (Optuna's ``JournalStorage`` with a file backend: no server, several
  processes on one machine or a shared file system), or ``postgresql+psycopg2://...``
  (several machines). RDB storages record Optuna heartbeats (``heartbeat_interval``,
  ``grace_period``) and re-queue a stale trial with ``RetryHeartbeatStaleTrialCallback``.
- **budget**: the total number of trials a sweep asks for (``n_trials``; for a grid, at
  most the grid size). Every sweep process works towards the *same* total, so re-running
  an interrupted sweep finishes it instead of adding ``n_trials``.
- **counted trials**: those that use up the budget: COMPLETE, PRUNED, RUNNING and FAIL,
  except an *orphan* that was re-queued and a *surplus* trial (below).
- **orphan**: a RUNNING trial whose sweep process is gone: on this host its pid
  (user attribute ``gru_attn:owner``) no longer exists; elsewhere its
  heartbeat is older than the grace period. Orphans are marked FAIL and re-queued as a
  WAITING trial with the same parameters by Optuna's retry callback.
- **surplus**: a trial created after the budget was used up (two processes asked at the
  same moment), or a second copy of a grid point. Marked FAIL with the reason, never run.
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from gru_attn.engine import Pruned
from gru_attn.errors import InputError

log = logging.getLogger(__name__)

OWNER_ATTR = "gru_attn:owner"  # user attribute: {"host", "pid", "trial"} of the sweep process running it
HEARTBEAT_ATTR = "gru_attn:heartbeat"  # user attribute (journal storage): time.time() of the last sign of life
SURPLUS_ATTR = "gru_attn:surplus"  # user attribute: why a trial was created but never run
RUN_DIR_ATTR = "run_dir"  # user attribute: the trial's run directory
RETRY = RetryHeartbeatStaleTrialCallback  # re-queues a failed orphan as WAITING (system attr "failed_trial")

_RETRIES = 8  # attempts when concurrent processes create the same database / study


def absolute_storage_url(url: str, base_dir: str | os.PathLike) -> str:
    """``url`` with a relative ``sqlite:///`` or ``journal:///`` path made absolute against ``base_dir``.

    So the sweep process and its jobs (whatever their working directory) open the same file.
    Other URLs are returned unchanged.
    """
    for prefix in ("sqlite:///", "journal:///"):
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            path = Path(url[len(prefix) :])
            return prefix + str((path if path.is_absolute() else Path(base_dir) / path).resolve())
    return url


def masked_url(url: str) -> str:
    """``url`` with its password hidden, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL: nothing to hide
        return url


def _retry_on_race(action, what: str):
    """Run ``action()``, retrying when another process creates the same tables / study."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(_RETRIES):
        try:
            return action()
        except (OperationalError, IntegrityError, optuna.exceptions.StorageInternalError) as exc:
            if attempt == _RETRIES - 1:
                raise
            log.info("%s: retrying after a concurrent-access error (%s)", what, type(exc).__name__)
            time.sleep(0.5 * (attempt + 1))


@contextmanager
def quiet_optuna():
    """Silence Optuna's notes that are moot here: "experimental" (heartbeat API, stable since
    2.8/2.9) and "heartbeat is supposed to be used with Study.optimize" (we beat ourselves)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def retry_callback() -> RetryHeartbeatStaleTrialCallback:
    """Optuna's callback that re-queues a failed trial's parameters (unlimited retries)."""
    with quiet_optuna():
        return RetryHeartbeatStaleTrialCallback()


def open_storage(url: str, heartbeat_interval: float | None = None, grace_period: float | None = None) -> BaseStorage:
    """The storage at ``url`` (see the module docstring); parent folders of a file are created.

    With ``heartbeat_interval`` (seconds) an RDB storage records heartbeats and fails a
    trial silent for ``grace_period`` seconds (re-queued by :func:`retry_callback`).
    """
    if url.startswith("journal:///"):
        path = Path(url[len("journal:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    _check_url(url)
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval:
        heartbeat = {
            "heartbeat_interval": max(1, round(heartbeat_interval)),
            "grace_period": max(1, round(grace_period or 4 * heartbeat_interval)),
            "heartbeat_stale_trial_callback": retry_callback(),
        }
    return _retry_on_race(lambda: RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat), f"open storage {url}")


def _check_url(url: str) -> None:
    """InputError naming ``hydra.sweeper.storage`` for a URL SQLAlchemy cannot open (unknown scheme, malformed,
    driver not installed); nothing is created."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    expected = "expected sqlite:///<file>, journal:///<file> or a PostgreSQL URL (postgresql+psycopg2://...)"
    try:
        make_url(url).get_dialect()
    except (NoSuchModuleError, ArgumentError, ValueError) as exc:
        raise InputError(
            f"hydra.sweeper.storage={masked_url(url)}: not a storage URL ({expected}; {str(exc).splitlines()[0]})"
        ) from None
    except ImportError as exc:
        raise InputError(
            f"hydra.sweeper.storage={masked_url(url)}: its database driver is not installed "
            f'({exc}; PostgreSQL: pip install "gru_attn[postgres]")'
        ) from None


def open_study(
    storage: BaseStorage | str,
    study_name: str,
    directions: Sequence[str],
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create the study, or load it when it exists (also when another process creates it now)."""
    return _retry_on_race(
        lambda: optuna.create_study(
            study_name=study_name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            directions=list(directions),
            load_if_exists=True,
        ),
        f"create or load study {study_name!r}",
    )


class Trials:
    """Trial ids and attributes of one study through its storage (ids are not part of ``FrozenTrial``'s API)."""

    def __init__(self, study: optuna.Study, storage: BaseStorage):
        self.study, self.storage = study, storage
        self.study_id = storage.get_study_id_from_name(study.study_name)

    def id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, int(number))

    def get(self, number: int) -> FrozenTrial:
        return self.storage.get_trial(self.id(number))

    def set_attr(self, number: int, key: str, value: Any) -> None:
        self.storage.set_trial_user_attr(self.id(number), key, value)

    def finish(self, number: int, state: TrialState) -> bool:
        """Set a trial's state to FAIL/PRUNED without values; False if it had finished already."""
        try:
            return self.storage.set_trial_state_values(self.id(number), state)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False

    def claim(self, number: int) -> None:
        """Record this process as the owner of a trial it just asked for."""
        self.set_attr(number, OWNER_ATTR, {"host": socket.gethostname(), "pid": os.getpid(), "trial": int(number)})
        self.beat(number)

    def beat(self, number: int) -> None:
        """A sign of life for a running trial (Optuna's heartbeat where the storage has one)."""
        if isinstance(self.storage, RDBStorage) and self.storage.get_heartbeat_interval():
            self.storage.record_heartbeat(self.id(number))
        else:
            self.set_attr(number, HEARTBEAT_ATTR, time.time())

    def fail_and_requeue(self, number: int, why: str) -> bool:
        """Mark a running trial FAIL and queue its parameters again (unless someone finished it first)."""
        if not self.finish(number, TrialState.FAIL):
            return False
        trial = self.get(number)
        with quiet_optuna():
            retry_callback()(self.study, trial)
        mark_run_interrupted(trial, why)
        log.warning("trial %d %s: marked failed; its parameters %s are queued again", number, why, trial.params)
        return True

    def reap_orphans(self, grace_period: float) -> list[int]:
        """Fail and re-queue the study's orphaned trials (Optuna's stale heartbeats, dead local pids)."""
        before = {t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with quiet_optuna():
            optuna.storages.fail_stale_trials(self.study)
        now = time.time()
        reaped = []
        for trial in self.study.get_trials(deepcopy=False):
            if trial.number not in before:
                continue
            if trial.state == TrialState.FAIL:  # failed just now by Optuna's heartbeat check
                mark_run_interrupted(trial, "was orphaned (no heartbeat from its sweep process)")
                reaped.append(trial.number)
            elif is_orphan(trial, grace_period, now) and self.fail_and_requeue(
                trial.number,
                "was orphaned (its sweep process {host}:{pid} is gone)".format(**trial.user_attrs[OWNER_ATTR]),
            ):
                reaped.append(trial.number)
        return reaped

    def mark_surplus(self, number: int, reason: str) -> None:
        """Record why a just-asked trial will not run, and mark it FAIL."""
        self.set_attr(number, SURPLUS_ATTR, reason)
        self.finish(number, TrialState.FAIL)


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
    ``gru_attn:heartbeat`` older than ``grace_period`` seconds (storages without Optuna heartbeats).

    A trial not claimed yet (a retry still carries the attributes of the trial it re-runs) is no orphan.
    """
    owner = trial.user_attrs.get(OWNER_ATTR)
    if trial.state != TrialState.RUNNING or not isinstance(owner, dict) or owner.get("trial") != trial.number:
        return False
    if owner.get("host") == socket.gethostname():
        return not _pid_alive(int(owner["pid"]))
    beat = trial.user_attrs.get(HEARTBEAT_ATTR)
    return beat is not None and (now if now is not None else time.time()) - float(beat) > grace_period


def mark_run_interrupted(trial: FrozenTrial, why: str) -> None:
    """Make the trial's run directory tell the truth: a ``metrics.json`` still saying ``running``
    (its job was killed with its sweep process) becomes ``interrupted`` with the reason."""
    from gru_attn.files import write_json
    from gru_attn.sweep.runs import read_metrics

    run_dir = trial.user_attrs.get(RUN_DIR_ATTR)
    metrics = read_metrics(run_dir) if run_dir else None
    if metrics is None or metrics["summary"].get("status") != "running":
        return
    metrics["summary"].update(status="interrupted", reason=f"trial {trial.number} {why}; the sweep re-queued it")
    try:
        write_json(Path(run_dir) / "metrics.json", metrics)
    except OSError as exc:
        log.warning("%s: cannot mark the run interrupted (%s)", run_dir, exc)


def counted_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that use up the budget (see the module docstring)."""
    with quiet_optuna():
        retried = {RETRY.retried_trial_number(t) for t in trials} - {None}
    return [
        t
        for t in trials
        if t.state != TrialState.WAITING
        and SURPLUS_ATTR not in t.user_attrs
        and not (t.state == TrialState.FAIL and t.number in retried)
    ]


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
    """Every point of a grid ``{name: values}``, in the order the values were written (first axis slowest)."""
    names = list(search_space)
    return [dict(zip(names, values)) for values in itertools.product(*(search_space[n] for n in names))]


def uncovered_grid_points(search_space: Mapping[str, Sequence[Any]], trials: Sequence[FrozenTrial]) -> list[dict]:
    """Grid points that no counted trial has taken (finished or running)."""
    taken = [t.params for t in counted_trials(trials)]
    return [p for p in grid_points(search_space) if p not in taken]


def queue_grid(study: optuna.Study, search_space: Mapping[str, Sequence[Any]]) -> int:
    """Enqueue (``enqueue_trial``) every grid point that is neither taken nor queued, in written order.

    Optuna's ``GridSampler`` visits points in random order and stops the study from
    ``tell``; the queue keeps the written order (``choice(128, 256)``: 128 first) and lets
    every process pick the next point. Returns how many points were queued.
    """
    trials = study.get_trials(deepcopy=False)
    queued = [t.system_attrs.get("fixed_params", t.params) for t in trials if t.state == TrialState.WAITING]
    new = [p for p in uncovered_grid_points(search_space, trials) if p not in queued]
    for point in new:
        study.enqueue_trial(point)
    return len(new)


class Heartbeat:
    """A background thread that marks this process's running trials alive every ``interval`` seconds."""

    def __init__(self, trials: Trials, interval: float):
        self._trials, self._interval = trials, float(interval)
        self._numbers: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gru_attn-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def track(self, numbers: Iterable[int]) -> None:
        with self._lock:
            self._numbers.update(numbers)

    def untrack(self, numbers: Iterable[int]) -> None:
        with self._lock:
            self._numbers.difference_update(numbers)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                numbers = list(self._numbers)
            for number in numbers:
                try:
                    self._trials.beat(number)
                except Exception as exc:  # finished meanwhile, or a transient database error
                    log.debug("heartbeat of trial %d skipped: %s", number, exc)


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

    def __init__(self, trial: optuna.Trial, metric: str, last_epoch: int):
        self.trial, self.metric, self.last_epoch = trial, metric, int(last_epoch)

    @classmethod
    def connect(
        cls,
        url: str,
        study_name: str,
        trial_number: int,
        metric: str,
        last_epoch: int,
        pruner: optuna.pruners.BasePruner | None,
    ) -> "TrialReporter":
        """Open the trial ``trial_number`` of ``study_name`` in the storage at ``url``."""
        storage = open_storage(url)
        study = optuna.load_study(
            study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(), pruner=pruner
        )
        return cls(optuna.Trial(study, Trials(study, storage).id(trial_number)), metric, last_epoch)

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> None:
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), step=int(epoch))
        if epoch < self.last_epoch and self.trial.should_prune():
            raise Pruned(
                f"pruned by {type(self.trial.study.pruner).__name__} after epoch {epoch} "
                f"({self.metric} = {float(value):.4g})"
            )
