"""Live training logs (gru_attn.loggers): csv / tensorboard / mlflow / none, the missing-package hint,
and a training run writing its metrics.csv.

The tensorboard and mlflow tests need the optional extras (``pip install -e ".[tensorboard,mlflow]"``);
without them they are skipped by ``importorskip``, named in the skip summary (``-ra``).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os

import numpy as np
import pytest
from omegaconf import OmegaConf

from gru_attn.config import compose
from gru_attn.errors import InputError
from gru_attn.loggers import CSVLogger, NoLogger, build_logger, finish, flat_params
from gru_attn.plots import plot_training_curves

HISTORY = [
    {"epoch": 1, "lr": 1e-3, "train/loss": 1.5, "val/loss": 1.2, "val/COnP_f1": 0.1},
    {"epoch": 2, "lr": 5e-4, "train/loss": 1.1, "val/loss": 1.0, "val/COnP_f1": 0.3, "val/COn_f1": 0.5},
]


def write_metrics_json(run_dir, status="completed"):
    summary = {
        "status": status,
        "optimized_metric": "val/COnP_f1",
        "best_value": 0.3,
        "best_epoch": 2,
        "final": HISTORY[-1],
    }
    (run_dir / "metrics.json").write_text(json.dumps({"summary": summary, "history": HISTORY}))
    return run_dir / "metrics.json"


def drive(logger, run_dir, status="completed"):
    """Feed ``logger`` what fit + train feed it: steps, two epochs with the curves figure, the end."""
    figure = run_dir / "training_curves.png"
    for epoch, metrics in enumerate(HISTORY, start=1):
        for step in range(4):
            logger.log_step((epoch - 1) * 4 + step, {"train/loss_step": 2.0 - 0.1 * step})
        plot_training_curves(HISTORY[:epoch], figure)
        logger.log_epoch(epoch, metrics, metrics["lr"])
        logger.log_figure("training_curves", figure)
    finish(
        logger,
        {"model/hidden_dim": 64, "optimizer/lr": 1e-3, "model/name": "gru", "seed": 0},
        write_metrics_json(run_dir, status),
    )


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_csv_logger_rows_columns_and_resume(tmp_path):
    drive(CSVLogger(tmp_path), tmp_path)
    rows = read_csv(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "lr", "train/loss", "val/loss", "val/COnP_f1", "val/COn_f1"]
    assert rows[0]["val/COn_f1"] == "" and float(rows[1]["val/COn_f1"]) == 0.5
    assert float(rows[1]["lr"]) == 5e-4 and float(rows[1]["val/COnP_f1"]) == 0.3

    resumed = CSVLogger(tmp_path)  # a resumed run keeps the earlier epochs and replaces a repeated one
    resumed.log_epoch(2, {"val/loss": 0.9}, 1e-4)
    resumed.log_epoch(3, {"val/loss": 0.8}, 1e-4)
    rows = read_csv(tmp_path / "metrics.csv")
    assert [(r["epoch"], r["val/loss"]) for r in rows] == [("1", "1.2"), ("2", "0.9"), ("3", "0.8")]


def test_none_logger_writes_nothing(tmp_path):
    logger = build_logger(compose(["logger=none"]).logger)
    assert type(logger) is NoLogger
    drive(logger, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "training_curves.png"]


@pytest.mark.parametrize("name, package", [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_missing_package_is_one_line_hint(monkeypatch, tmp_path, name, package):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda pkg, *a: None if pkg == package else real(pkg, *a))
    config = {
        "_target_": f"gru_attn.loggers.{ {'tensorboard': 'TensorBoardLogger', 'mlflow': 'MLflowLogger'}[name] }",
        "save_dir" if name == "tensorboard" else "run_dir": str(tmp_path),
    }
    with pytest.raises(InputError) as info:
        build_logger(config)
    assert str(info.value) == f'logger={name} needs the {package} package: pip install "gru_attn[{name}]"'
    assert not any(tmp_path.iterdir())


def test_bad_logger_target_is_input_error():
    with pytest.raises(InputError, match="logger: cannot build 'gru_attn.loggers.Nope'"):
        build_logger({"_target_": "gru_attn.loggers.Nope"})


def test_flat_params_skips_paths_and_flattens():
    cfg = compose(["experiment=fast_test"])
    data = OmegaConf.to_container(cfg, resolve=False)  # paths.output_dir needs a Hydra run to resolve
    params = flat_params({k: v for k, v in data.items() if k != "paths"} | {"paths": {"x": 1}})
    assert params["optimizer/lr"] == cfg.optimizer.lr and params["seed"] == 0
    assert params["model/_target_"] == cfg.model._target_
    assert not any(k.startswith(("paths/", "logger/")) or k.endswith("_partial_") for k in params)
    assert flat_params({"a": {"b": [1, 2], "c": None}}) == {"a/b": "[1, 2]", "a/c": "None"}


def test_finish_closes_with_final_metrics_even_without_metrics_json(tmp_path):
    calls = []

    class Spy(NoLogger):
        def log_hparams(self, params, final_metrics):
            calls.append(("hparams", params, final_metrics))

        def close(self, status="completed"):
            calls.append(("close", status))

    finish(Spy(), {"seed": 1}, write_metrics_json(tmp_path, "pruned"))
    (_, params, final), close = calls
    assert params == {"seed": 1} and close == ("close", "pruned")
    assert final == {
        "best/val/COnP_f1": 0.3,
        "final/train/loss": 1.1,
        "final/val/loss": 1.0,
        "final/val/COnP_f1": 0.3,
        "final/val/COn_f1": 0.5,
    }
    calls.clear()
    finish(Spy(), {}, tmp_path / "missing.json")
    assert calls == [("hparams", {}, {}), ("close", "failed")]


@pytest.mark.slow
def test_tensorboard_logger_writes_scalars_image_and_hparams(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = build_logger(
        compose(["logger=tensorboard", "logger.log_every_n_steps=2", f"paths.output_dir={tmp_path}"]).logger
    )
    drive(logger, tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    steps = events.Scalars("train/loss_step")
    assert [e.step for e in steps] == [0, 2, 4, 6]
    assert [e.value for e in steps] == pytest.approx([2.0, 1.8, 2.0, 1.8])
    assert [e.step for e in events.Scalars("val/COnP_f1")] == [1, 2]
    assert [e.value for e in events.Scalars("val/COnP_f1")] == pytest.approx([0.1, 0.3])
    assert [e.value for e in events.Scalars("lr")] == pytest.approx([1e-3, 5e-4])
    assert events.Scalars("best/val/COnP_f1")[0].value == pytest.approx(0.3)
    assert [e.step for e in events.Images("training_curves")] == [1, 2]
    assert set(events.PluginTagToContent("hparams")) == {
        "_hparams_/experiment",
        "_hparams_/session_start_info",
        "_hparams_/session_end_info",
    }
    with pytest.raises(InputError, match="log_every_n_steps"):
        build_logger(
            {"_target_": "gru_attn.loggers.TensorBoardLogger", "save_dir": str(tmp_path), "log_every_n_steps": 0}
        )


@pytest.mark.slow
def test_mlflow_logger_puts_a_sweep_in_one_store(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    sweep = tmp_path / "multirun" / "12-00-00"
    for job, status in (("0", "completed"), ("1", "pruned")):
        run_dir = sweep / job
        run_dir.mkdir(parents=True)
        drive(
            build_logger(
                {
                    "_target_": "gru_attn.loggers.MLflowLogger",
                    "run_dir": str(run_dir),
                    "sweep_dir": str(sweep),
                    "log_every_n_steps": 2,
                }
            ),
            run_dir,
            status,
        )
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # the logger leaves the environment as it was
    assert not (sweep / "0" / "mlruns").exists()
    client = MlflowClient(tracking_uri=(sweep / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("12-00-00")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"0", "1"}
    assert runs["0"].info.status == "FINISHED" and runs["1"].info.status == "KILLED"
    run = runs["0"]
    assert run.data.params["model/hidden_dim"] == "64" and run.data.metrics["best/val/COnP_f1"] == 0.3
    history = client.get_metric_history(run.info.run_id, "val/COnP_f1")
    assert [(m.step, m.value) for m in history] == [(1, 0.1), (2, 0.3)]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss_step")] == [0, 2, 4, 6]
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert artifacts == ["training_curves.png"]

    single = tmp_path / "outputs" / "run"  # not inside the sweep folder: its own store
    single.mkdir(parents=True)
    drive(
        build_logger(
            {
                "_target_": "gru_attn.loggers.MLflowLogger",
                "run_dir": str(single),
                "sweep_dir": str(sweep),
                "experiment_name": "train",
            }
        ),
        single,
    )
    client = MlflowClient(tracking_uri=(single / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert run.info.run_name == "run"


@pytest.mark.slow
def test_training_run_writes_metrics_csv_matching_metrics_json(trained_run):
    # the session's one fast_test training run (tests/conftest.py)
    history = json.loads((trained_run / "metrics.json").read_text())["history"]
    rows = read_csv(trained_run / "metrics.csv")  # logger=csv is the default
    assert [int(r["epoch"]) for r in rows] == [h["epoch"] for h in history] == [1, 2]
    for row, h in zip(rows, history):
        np.testing.assert_allclose(
            [float(row[k]) for k in ("lr", "train/loss", "val/loss", "val/COnP_f1")],
            [h[k] for k in ("lr", "train/loss", "val/loss", "val/COnP_f1")],
            rtol=1e-12,
        )


def test_training_with_a_missing_logger_package_fails_in_one_line(run_train, monkeypatch, tmp_path):
    # the training CLI in process, with the tensorboard package hidden whether installed or not
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a, **k: None if n == "tensorboard" else real(n, *a, **k)
    )
    proc = run_train(["experiment=fast_test", "logger=tensorboard", f"hydra.run.dir={tmp_path / 'run'}"])
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == 'error: logger=tensorboard needs the tensorboard package: pip install "gru_attn[tensorboard]"'
    )
