"""A sweep's runs as rows: read each run directory (and the Optuna study, if any), sort,
and write the comparison table (``results.csv`` / ``results.md``) of ``python -m gru_attn.compare``.

A row holds the sweep, run, trial, status, the hyperparameters that vary, parameter
count, best and run epochs, wall time (s), the objective (best ``optimized_metric``) and
the note and frame validation metrics at the best epoch.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from gru_attn.errors import InputError
from gru_attn.files import atomic_path, write_text
from gru_attn.sweep.runs import STUDY_FILE, Run, find_runs

log = logging.getLogger(__name__)

CORE_PARAMS = {  # column -> key in the run's config
    "hidden_dim": "model.hidden_dim",
    "num_layers": "model.num_layers",
    "lr": "optimizer.lr",
    "batch_size": "data.batch_size",
}
METRICS = {  # column -> validation metric at the best epoch
    "COnPOff_f1": "val/COnPOff_f1",
    "COnP_f1": "val/COnP_f1",
    "COn_f1": "val/COn_f1",
    "voiced_f1": "val/voiced_f1",
    "onset_f1": "val/onset_f1",
    "offset_f1": "val/offset_f1",
    "val_loss": "val/loss",
}
# Overrides that are no hyperparameters (their own columns, or how the sweep was set up).
NOT_PARAMETERS = {"optuna_trial", "trainer.device", "hparams_search", "experiment"}
EXTRA_FIELDS = ["max_epochs", "metric", "direction", "reason"]  # in the rows and the CSV, not the table
STATUS_ORDER = ["completed", "pruned", "running", "unfinished", "interrupted", "failed", "not started", "unreadable"]


@dataclass
class StudyInfo:
    """What the comparison uses of an Optuna study."""

    name: str
    direction: str
    trials: list  # optuna FrozenTrial objects
    study: object = None  # the optuna.Study itself (for Optuna's importance and plots)


@dataclass
class Sweep:
    """One sweep directory: its label, runs and study (if any)."""

    path: Path
    label: str
    runs: list[Run]
    study: StudyInfo | None = None
    rows: list[dict] = field(default_factory=list)


# -- reading ------------------------------------------------------------------------------------


def config_value(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _override_pairs(overrides: Sequence[str]) -> dict[str, str]:
    """``["+a.b=1", "c=x"]`` -> ``{"a.b": "1", "c": "x"}`` (sweep and hydra overrides excluded)."""
    pairs = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.lstrip("+~")
        if sep and not key.startswith("hydra.") and key not in NOT_PARAMETERS and key not in CORE_PARAMS.values():
            pairs[key] = value
    return pairs


def load_study(sweep_dir: Path) -> StudyInfo | None:
    """The sweep's Optuna study as recorded in ``study.json``; None (with a warning) when absent or unreachable."""
    record = sweep_dir / STUDY_FILE
    if not record.exists():
        return None
    try:
        info = json.loads(record.read_text())
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from gru_attn.sweep.study import open_storage

        study = optuna.load_study(study_name=info["study_name"], storage=open_storage(info["storage"]))
        return StudyInfo(
            name=study.study_name,
            direction=study.direction.name.lower(),
            trials=study.get_trials(deepcopy=False),
            study=study,
        )
    except Exception as exc:  # a study we cannot open must not stop the comparison
        log.warning(
            "%s: cannot open the study (%s: %s); comparing the run directories only", record, type(exc).__name__, exc
        )
        return None


def load_sweep(path: str | os.PathLike, label: str | None = None) -> Sweep:
    """Read a sweep directory; raises InputError when it is missing or holds no run."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such sweep directory")
    runs = find_runs(path)
    if not runs:
        raise InputError(f"{path}: no run directories in it (expected sub-folders with .hydra/ or metrics.json)")
    return Sweep(path=path, label=label or path.name, runs=runs, study=load_study(path))


def _display_status(run: Run, trial) -> str:
    """The run's status, refined by its trial: ``interrupted`` (its sweep died), ``running``, ``unfinished``."""
    if run.status not in ("running", "not started"):
        return run.status
    if trial is None:
        return "unfinished" if run.status == "running" else run.status
    return "running" if trial.state.name == "RUNNING" else "interrupted"


def _metrics_at(run: Run, epoch) -> dict:
    for entry in run.history:
        if entry.get("epoch") == epoch:
            return entry
    return {}


def run_row(sweep: Sweep, run: Run) -> dict:
    """One table row for ``run`` (numbers as floats/ints, missing values as None)."""
    trial_number = run.config.get("optuna_trial")
    trial = None
    if sweep.study is not None and trial_number is not None:
        trial = next((t for t in sweep.study.trials if t.number == int(trial_number)), None)
    summary = run.summary
    best = _metrics_at(run, summary.get("best_epoch"))
    row = {"sweep": sweep.label, "run": run.name, "trial": trial_number, "status": _display_status(run, trial)}
    row.update({col: config_value(run.config, key) for col, key in CORE_PARAMS.items()})
    row.update(_override_pairs(run.overrides))
    row.update(
        {
            "parameters": summary.get("parameters"),
            "best_epoch": summary.get("best_epoch"),
            "epochs": len(run.history),
            "wall_time_s": summary.get("wall_time_s"),
            "objective": summary.get("best_value"),
        }
    )
    row.update({col: best.get(key) for col, key in METRICS.items()})
    row["max_epochs"] = config_value(run.config, "trainer.max_epochs")
    row["metric"] = summary.get("optimized_metric") or run.config.get("optimized_metric")
    row["direction"] = summary.get("direction") or run.config.get("optimized_direction") or "maximize"
    row["reason"] = summary.get("reason")
    return row


# -- table --------------------------------------------------------------------------------------


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def sort_rows(rows: list[dict]) -> list[dict]:
    """Within each sweep (in the given order): completed, pruned, ... ; by objective, best first."""
    sweeps = list(dict.fromkeys(r["sweep"] for r in rows))

    def key(r):
        sign = -1.0 if r["direction"] == "maximize" else 1.0
        objective = sign * r["objective"] if is_number(r["objective"]) else math.inf
        rank = STATUS_ORDER.index(r["status"]) if r["status"] in STATUS_ORDER else len(STATUS_ORDER)
        return sweeps.index(r["sweep"]), rank, objective

    return sorted(rows, key=key)


def table_columns(rows: list[dict]) -> list[str]:
    """Columns in table order; extra override columns only where a value varies, ``sweep`` only for several."""
    fixed = [
        "sweep",
        "run",
        "trial",
        "status",
        *CORE_PARAMS,
        "parameters",
        "best_epoch",
        "epochs",
        "wall_time_s",
        "objective",
        *METRICS,
    ]
    extra = []
    for row in rows:
        for key in row:
            if key not in fixed and key not in EXTRA_FIELDS and key not in extra:
                if len({str(r.get(key)) for r in rows}) > 1:
                    extra.append(key)
    columns = fixed[:4] + fixed[4:8] + extra + fixed[8:]
    if len({r["sweep"] for r in rows}) < 2:
        columns.remove("sweep")
    if all(r["trial"] is None for r in rows):
        columns.remove("trial")
    return columns


def _fmt(value, column: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if column == "lr":
            return f"{value:.2e}"
        if column == "wall_time_s":
            return f"{value:.1f}"
        return f"{value:.4f}"
    if column == "parameters" and isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(rows: list[dict], columns: list[str], markdown: bool = False) -> str:
    """An aligned text table, or a Markdown pipe table."""
    cells = [[_fmt(r.get(c), c) for c in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells]) + "\n"
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict], columns: list[str], path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns + EXTRA_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def pruning_savings(rows: list[dict]) -> dict | None:
    """What pruning saved: epochs not run by pruned runs (of their ``trainer.max_epochs``) and an
    estimate of the time (each pruned run's own seconds per epoch); None without pruned runs.

    Returns ``{"pruned", "epochs_saved", "epochs_run", "seconds_saved", "seconds_spent", "fraction"}``
    where ``fraction`` = seconds saved / (seconds spent + saved), over all runs of ``rows``.
    """
    pruned = [r for r in rows if r["status"] == "pruned" and is_number(r["max_epochs"]) and r["epochs"]]
    if not pruned:
        return None
    epochs_saved = sum(int(r["max_epochs"]) - r["epochs"] for r in pruned)
    seconds_saved = sum(
        (int(r["max_epochs"]) - r["epochs"]) * r["wall_time_s"] / r["epochs"]
        for r in pruned
        if is_number(r["wall_time_s"])
    )
    seconds_spent = sum(r["wall_time_s"] for r in rows if is_number(r["wall_time_s"]))
    return {
        "pruned": len(pruned),
        "epochs_saved": epochs_saved,
        "epochs_run": sum(r["epochs"] for r in rows),
        "seconds_saved": seconds_saved,
        "seconds_spent": seconds_spent,
        "fraction": seconds_saved / (seconds_spent + seconds_saved) if seconds_spent + seconds_saved else 0.0,
    }


def savings_line(savings: dict) -> str:
    return (
        f"Pruning stopped {savings['pruned']} run(s) early: {savings['epochs_saved']} epochs not run "
        f"({savings['epochs_run']} run), about {savings['seconds_saved']:.0f} s of training saved "
        f"({100 * savings['fraction']:.0f}% of the {savings['seconds_spent'] + savings['seconds_saved']:.0f} s "
        f"the sweep would have taken without pruning)."
    )


def write_markdown(sweeps: list[Sweep], rows: list[dict], columns: list[str], path: Path, plots: list[str]) -> None:
    parts = ["# Sweep comparison\n"]
    for sweep in sweeps:
        mine = [r for r in rows if r["sweep"] == sweep.label]
        metric = next((r["metric"] for r in mine if r["metric"]), "objective")
        counts = {s: sum(r["status"] == s for r in mine) for s in STATUS_ORDER}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        study = f"; Optuna study `{sweep.study.name}`" if sweep.study else ""
        parts.append(
            f"## {sweep.label}\n\n`{sweep.path}`: {len(mine)} runs ({summary}){study}; objective = best `{metric}`.\n"
        )
        parts.append(format_table(mine, [c for c in columns if c != "sweep"], markdown=True))
        savings = pruning_savings(mine)
        if savings:
            parts.append(savings_line(savings) + "\n")
        failed = [r for r in mine if r["reason"] and r["status"] not in ("completed",)]
        if failed:
            parts.append("\n".join(f"- run {r['run']} ({r['status']}): {r['reason']}" for r in failed) + "\n")
    parts.append("\n".join(f"![{p}]({p})" for p in plots) + "\n")
    write_text(path, "\n".join(parts))
