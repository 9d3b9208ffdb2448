"""Live training logs: the ``logger`` config group (``conf/logger/*.yaml``).

Every logger has the same small interface, called by :func:`gru_attn.engine.fit`
and :func:`gru_attn.train.train`:

- ``log_step(step, metrics)``: per-batch values (``train/loss_step``), ``step`` counts
  optimizer steps from 0;
- ``log_epoch(epoch, metrics, lr)``: the epoch's train/val metrics (``epoch`` from 1),
  ``lr`` the learning rate used in it;
- ``log_hparams(params, final_metrics)``: once, at the end: flat ``{"group/key": value}``
  parameters and the run's final metrics (best value, last epoch's metrics);
- ``log_figure(name, path)``: a PNG written by the run (the training curves, whenever redrawn: at most once a minute, and at the end);
- ``close(status)``: flush and finish; ``status`` is ``metrics.json``'s (completed,
  pruned, failed).

``tensorboard`` and ``mlflow`` need optional packages (extras of the same name); a
missing one is an :class:`InputError` with the install hint.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import math
import os
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from gru_attn.config import TARGET_WHITELIST
from gru_attn.errors import InputError
from gru_attn.files import write_text

HPARAM_SKIP = ("paths", "hydra", "logger")  # config groups left out of the logged hyperparameters


def _require(package: str, logger: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise InputError(f'logger={logger} needs the {package} package: pip install "gru_attn[{logger}]"')


def _finite(metrics: dict) -> dict:
    """The entries of ``metrics`` that are finite numbers, as floats."""
    out = {}
    for k, v in metrics.items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            out[k] = v
    return out


class NoLogger:
    """``logger=none``: logs nothing (also the base class: every method is a no-op)."""

    def log_step(self, step: int, metrics: dict) -> None:
        pass

    def log_epoch(self, epoch: int, metrics: dict, lr: float) -> None:
        pass

    def log_hparams(self, params: dict, final_metrics: dict) -> None:
        pass

    def log_figure(self, name: str, path: str | os.PathLike) -> None:
        pass

    def close(self, status: str = "completed") -> None:
        pass


class CSVLogger(NoLogger):
    """``logger=csv``: ``<save_dir>/metrics.csv``, one row per epoch (``epoch``, ``lr``, then every
    metric in first-seen order; an empty cell where an epoch lacks one), rewritten atomically
    after every epoch. Steps, hparams and figures are not logged (see ``metrics.json`` and
    ``.hydra/config.yaml``)."""

    def __init__(self, save_dir: str | os.PathLike, filename: str = "metrics.csv"):
        self.path = Path(save_dir) / filename
        self.rows: list[dict] = []
        if self.path.is_file():  # a resumed run continues its file
            with open(self.path, newline="") as f:
                self.rows = list(csv.DictReader(f))

    def log_epoch(self, epoch: int, metrics: dict, lr: float) -> None:
        row = {"epoch": epoch, "lr": lr, **{k: v for k, v in metrics.items() if k not in ("epoch", "lr")}}
        self.rows = [r for r in self.rows if str(r.get("epoch")) != str(epoch)] + [row]
        columns: list[str] = []
        for r in self.rows:
            columns += [k for k in r if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buf.getvalue())


class TensorBoardLogger(NoLogger):
    """``logger=tensorboard``: event files in ``save_dir`` (inside the run directory).

    Scalars: ``train/loss_step`` every ``log_every_n_steps`` optimizer steps (x = step),
    every epoch metric and ``lr`` (x = epoch); the figure as an image per epoch; at the
    end the hyperparameters with the final metrics (HPARAMS tab).
    """

    def __init__(self, save_dir: str | os.PathLike, log_every_n_steps: int = 10):
        _require("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        if int(log_every_n_steps) < 1:
            raise InputError(f"logger.log_every_n_steps={log_every_n_steps}: expected a positive number of steps")
        self.every = int(log_every_n_steps)
        self.epoch = 0  # of the last log_epoch: the figure's step
        self.writer = SummaryWriter(log_dir=str(save_dir))

    def log_step(self, step: int, metrics: dict) -> None:
        if step % self.every == 0:
            for k, v in _finite(metrics).items():
                self.writer.add_scalar(k, v, step)

    def log_epoch(self, epoch: int, metrics: dict, lr: float) -> None:
        for k, v in _finite({**metrics, "lr": lr}).items():
            if k != "epoch":
                self.writer.add_scalar(k, v, epoch)
        self.epoch = epoch
        self.writer.flush()

    def log_figure(self, name: str, path: str | os.PathLike) -> None:
        import matplotlib.image

        image = matplotlib.image.imread(str(path))  # (H, W, 3|4) float in [0, 1]
        self.writer.add_image(name, image[..., :3], self.epoch, dataformats="HWC")

    def log_hparams(self, params: dict, final_metrics: dict) -> None:
        from torch.utils.tensorboard.summary import hparams

        metrics = _finite(final_metrics)
        for summary in hparams(_tb_params(params), metrics):
            self.writer.file_writer.add_summary(summary)
        for k, v in metrics.items():
            self.writer.add_scalar(k, v, 0)

    def close(self, status: str = "completed") -> None:
        self.writer.close()


def _tb_params(params: dict) -> dict:
    """TensorBoard takes bool/int/float/str hparams; anything else becomes its string."""
    return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in params.items()}


@contextlib.contextmanager
def mlflow_file_store_allowed():
    """Within this block MLflow 3 opens its local file store (``mlruns``), which it refuses
    unless ``MLFLOW_ALLOW_FILE_STORE`` is true, its only switch; the variable is set for the
    block alone (an explicit value of the user's is kept). MLflow caches an opened store per
    tracking URI, so a client that opened it inside keeps working after the block."""
    key = "MLFLOW_ALLOW_FILE_STORE"
    if key in os.environ:
        yield
        return
    os.environ[key] = "true"
    try:
        yield
    finally:
        os.environ.pop(key, None)


class MLflowLogger(NoLogger):
    """``logger=mlflow``: one MLflow run per training run, in a local store.

    The store is ``<sweep_dir>/mlruns`` (experiment = the sweep folder's name) when the run
    directory lies inside ``sweep_dir`` (a multirun), else ``<run_dir>/mlruns`` (experiment
    ``experiment_name``); ``tracking_uri`` (e.g. ``sqlite:///abs/path/mlflow.db``) overrides
    both. The run is named after the run directory's name; epoch metrics and ``lr`` go in
    with step = epoch, steps every ``log_every_n_steps``, params and final metrics at the
    end, the last figure as an artifact; status FINISHED, KILLED (pruned) or FAILED. A
    resumed training run starts a new MLflow run. The local file store is opened inside
    :func:`mlflow_file_store_allowed`; the process environment is left as it was.
    """

    STATUS = {"completed": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}

    def __init__(
        self,
        run_dir: str | os.PathLike,
        sweep_dir: str | os.PathLike | None = None,
        experiment_name: str = "gru_attn",
        tracking_uri: str | None = None,
        log_every_n_steps: int = 50,
    ):
        _require("mlflow", "mlflow")
        run_dir = Path(run_dir).resolve()
        sweep = Path(sweep_dir).resolve() if sweep_dir else None
        in_sweep = sweep is not None and sweep != run_dir and run_dir.is_relative_to(sweep)
        file_store = tracking_uri is None
        if file_store:
            store = (sweep if in_sweep else run_dir) / "mlruns"
            store.mkdir(parents=True, exist_ok=True)
            tracking_uri = store.as_uri()
        from mlflow.tracking import MlflowClient

        self.every = max(int(log_every_n_steps), 1)
        with mlflow_file_store_allowed() if file_store else contextlib.nullcontext():
            self.client = MlflowClient(tracking_uri=tracking_uri)  # opens (and caches) the store
        self.tracking_uri = tracking_uri
        name = sweep.name if in_sweep else experiment_name
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                experiment_id = self.client.create_experiment(name)
            except Exception:  # another job of the sweep created it first
                experiment_id = self.client.get_experiment_by_name(name).experiment_id
        else:
            experiment_id = experiment.experiment_id
        run_name = str(run_dir.relative_to(sweep)) if in_sweep else run_dir.name
        self.run_id = self.client.create_run(
            experiment_id, run_name=run_name, tags={"run_dir": str(run_dir)}
        ).info.run_id
        self.figures: dict[str, Path] = {}

    def _log(self, metrics: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, v, now, step) for k, v in _finite(metrics).items() if k != "epoch"]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def log_step(self, step: int, metrics: dict) -> None:
        if step % self.every == 0:
            self._log(metrics, step)

    def log_epoch(self, epoch: int, metrics: dict, lr: float) -> None:
        self._log({**metrics, "lr": lr}, epoch)

    def log_figure(self, name: str, path: str | os.PathLike) -> None:
        self.figures[name] = Path(path)  # uploaded once, at close

    def log_hparams(self, params: dict, final_metrics: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:500]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])
        self._log(final_metrics, 0)

    def close(self, status: str = "completed") -> None:
        for path in self.figures.values():
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, self.STATUS.get(status, "FINISHED"))


def build_logger(config) -> NoLogger:
    """The logger of ``config`` (the ``logger`` node; None -> :class:`NoLogger`); InputError when it
    cannot be built (a missing optional package: one line with the install hint)."""
    if config is None or (hasattr(config, "get") and config.get("_target_") is None):
        return NoLogger()
    try:
        return hydra.utils.instantiate(config, _execution_whitelist_=TARGET_WHITELIST)
    except hydra.errors.InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, InputError):
            raise cause from None
        reason = " ".join(str(cause or exc).split("\nfull_key:")[0].split()) or type(exc).__name__
        raise InputError(f"logger: cannot build {config.get('_target_')!r}: {reason}") from None


def flat_params(cfg: DictConfig | dict, skip=HPARAM_SKIP) -> dict:
    """The resolved config as ``{"group/key": value}`` (lists as their JSON text), without ``skip``."""
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    out = {}

    def walk(node, prefix):
        for k, v in node.items():
            if prefix == "" and k in skip or k == "_partial_":
                continue
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, key + "/")
            elif isinstance(v, (list, tuple)):
                out[key] = json.dumps(v)
            else:
                out[key] = "None" if v is None else v

    walk(data, "")
    return out


def finish(logger: NoLogger, params: dict, metrics_json: str | os.PathLike) -> None:
    """Log ``params`` with the final metrics of ``metrics_json`` (``best/<metric>`` and the last
    epoch's ``final/<metric>``), then close the logger with the run's status."""
    status, final = "failed", {}
    try:
        summary = json.loads(Path(metrics_json).read_text())["summary"]
        status = summary.get("status", "failed")
        if summary.get("best_value") is not None:
            final[f"best/{summary['optimized_metric']}"] = summary["best_value"]
        final.update(
            {
                f"final/{k}": v
                for k, v in (summary.get("final") or {}).items()
                if k.startswith("val/") or k == "train/loss"
            }
        )
    except (OSError, ValueError, KeyError):
        pass  # no metrics.json: the run failed before its first epoch
    try:
        logger.log_hparams(params, final)
    finally:
        logger.close(status)
