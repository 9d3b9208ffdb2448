"""``gru_attn.compare`` on hand-made run directories: every status, two sweeps, a study, bad input.
(Real sweep outputs are compared in test_sweep_e2e.py and test_sweep_parallel.py.)"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
import yaml

from gru_attn.compare import compare, main
from gru_attn.sweep.figures import param_importances, pareto_front

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_run(
    run_dir: Path,
    status: str | None,
    hidden: int = 128,
    layers: int = 1,
    values=(),
    reason: str | None = None,
    trial: int | None = None,
    lr: float = 1e-3,
) -> Path:
    """A run directory like train.py writes: .hydra/config.yaml + overrides.yaml, and metrics.json
    (``status`` None: none yet) with one epoch per value of val/COnP_f1."""
    (run_dir / ".hydra").mkdir(parents=True)
    config = {
        "model": {"hidden_dim": hidden, "num_layers": layers},
        "optimizer": {"lr": lr},
        "trainer": {"max_epochs": 3},
        "data": {"batch_size": 16},
        "optimized_metric": "val/COnP_f1",
        "optimized_direction": "maximize",
    }
    overrides = [f"model.hidden_dim={hidden}", f"model.num_layers={layers}"]
    if trial is not None:
        config["optuna_trial"] = trial
        overrides.append(f"++optuna_trial={trial}")
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if status is not None:
        history = [
            {"epoch": e + 1, "val/COnP_f1": v, "val/COnPOff_f1": v / 2, "val/loss": 1 - v} for e, v in enumerate(values)
        ]
        best = max(range(len(values)), key=lambda i: values[i]) if values else None
        summary = {
            "status": status,
            "reason": reason,
            "parameters": hidden * hidden * layers,
            "wall_time_s": 10.0 * len(values) * layers,
            "optimized_metric": "val/COnP_f1",
            "direction": "maximize",
            "best_epoch": None if best is None else best + 1,
            "best_value": None if best is None else values[best],
        }
        (run_dir / "metrics.json").write_text(json.dumps({"summary": summary, "history": history}))
    return run_dir


@pytest.fixture
def sweep(tmp_path) -> Path:
    root = tmp_path / "grid"
    make_run(root / "0", "completed", 128, 1, [0.2, 0.5])
    make_run(root / "1", "completed", 256, 1, [0.4, 0.7, 0.6])
    make_run(root / "2", "pruned", 128, 2, [0.1], reason="pruned by MedianPruner after epoch 1")
    make_run(root / "3", "failed", 256, 2, [], reason="model.hidden_dim=30 is not divisible by 4")
    make_run(root / "4", "running", 512, 1, [0.3])
    make_run(root / "5", None, 512, 2)
    make_run(root / "10", "completed", 512, 3, [0.65])
    (root / "6").mkdir()
    (root / "6" / "metrics.json").write_text("{ not json")
    (root / "notes").mkdir()  # not a run directory
    return root


@pytest.mark.slow
def test_table_lists_every_run_sorted_and_writes_files(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    rows = compare([sweep], out_dir=out)
    assert [(r["run"], r["status"]) for r in rows] == [
        ("1", "completed"),
        ("10", "completed"),
        ("0", "completed"),
        ("2", "pruned"),
        ("4", "unfinished"),
        ("3", "failed"),
        ("5", "not started"),
        ("6", "unreadable"),
    ]
    best = rows[0]
    assert (best["hidden_dim"], best["num_layers"], best["best_epoch"], best["epochs"]) == (256, 1, 2, 3)
    assert best["objective"] == 0.7 and best["COnPOff_f1"] == 0.35 and best["parameters"] == 256 * 256
    printed = capsys.readouterr().out
    assert "objective" in printed.splitlines()[0] and "unreadable" in printed
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["run"] for r in table] == [r["run"] for r in rows] and "COnP_f1" in table[0]
    report = (out / "results.md").read_text()
    assert "model.hidden_dim=30 is not divisible by 4" in report and "1 pruned" in report
    # the pruned run stopped after 1 of 3 epochs, at 20 s per epoch
    assert "Pruning stopped 1 run(s) early: 2 epochs not run" in report and "about 40 s" in report
    for plot in ("heatmap.png", "pareto.png", "curves.png"):
        assert (out / plot).stat().st_size > 1000
    assert not (out / "optuna_history.png").exists()  # no study


@pytest.mark.slow
def test_two_sweeps_side_by_side(sweep, tmp_path):
    other = tmp_path / "more"
    make_run(other / "0", "completed", 128, 1, [0.9])
    rows = compare([sweep, other], quiet=True)  # --out defaults to the first sweep
    assert [r["sweep"] for r in rows][-1] == "more" and {r["sweep"] for r in rows} == {"grid", "more"}
    header = (sweep / "results.csv").read_text().splitlines()[0]
    assert header.startswith("sweep,run,")
    report = (sweep / "results.md").read_text()
    assert "## grid" in report and "## more" in report


def test_missing_or_empty_sweep_dir_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no such sweep directory" in capsys.readouterr().err
    (tmp_path / "empty" / "logs").mkdir(parents=True)
    assert main([str(tmp_path / "empty")]) == 2
    assert "no run directories" in capsys.readouterr().err


@pytest.mark.slow
def test_study_plots_and_trial_states(tmp_path):
    root = tmp_path / "optuna"
    root.mkdir()
    storage = f"sqlite:///{root}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    dist = {"model.hidden_dim": optuna.distributions.CategoricalDistribution([128, 256, 512])}
    for number, (hidden, value) in enumerate([(128, 0.2), (256, 0.5), (128, 0.25), (256, 0.55), (512, 0.4)]):
        trial = study.ask(dist)
        study.tell(trial, value)
        make_run(root / str(number), "completed", hidden, 1, [value], trial=number)
    interrupted = study.ask(dist)
    study.tell(interrupted, state=optuna.trial.TrialState.FAIL)
    make_run(root / "5", "running", 512, 1, [0.1], trial=5)
    study.ask(dist)
    make_run(root / "6", "running", 512, 1, [0.1], trial=6)
    (root / "study.json").write_text(json.dumps({"storage": storage, "study_name": "s"}))
    rows = {r["run"]: r for r in compare([root], quiet=True)}
    assert (rows["5"]["status"], rows["6"]["status"], rows["0"]["trial"]) == ("interrupted", "running", 0)
    assert (root / "optuna_history.png").exists() and (root / "optuna_importance.png").exists()
    (root / "study.json").write_text(json.dumps({"storage": f"sqlite:///{root}/missing/x.db", "study_name": "s"}))
    rows = {r["run"]: r for r in compare([root], quiet=True)}  # an unreachable study: runs only
    assert rows["5"]["status"] == "unfinished"


def test_pareto_front():
    costs, values = [4, 1, 2, 3, 5], [0.5, 0.1, 0.3, 0.2, 0.5]
    assert pareto_front(costs, values, maximize=True) == [1, 2, 0]
    assert pareto_front(costs, values, maximize=False) == [1]


def test_param_importances_are_optunas_and_find_the_parameter_that_matters():
    study = optuna.create_study(direction="maximize")
    dist = {
        "a": optuna.distributions.CategoricalDistribution([1, 2, 3]),
        "b": optuna.distributions.CategoricalDistribution(["x", "y"]),
    }
    for a in (1, 2, 3):
        for b in ("x", "y", "x", "y"):
            study.add_trial(
                optuna.trial.create_trial(
                    params={"a": a, "b": b}, distributions=dist, value=10.0 * a + (0.01 if b == "x" else 0.0)
                )
            )
    shares = param_importances(study)
    assert set(shares) == {"a", "b"} and shares["a"] > shares["b"]
    assert abs(sum(shares.values()) - 1) < 1e-6
    assert param_importances(optuna.create_study()) == {}  # no trial: no estimate, no error
