"""``python -m gru_attn.compare``: one table and a few plots over the runs of one or more sweeps.

    python -m gru_attn.compare multirun/grid [multirun/optuna ...] [--out DIR]

Reads every run directory directly inside each sweep directory (``metrics.json``,
``.hydra/config.yaml``, ``.hydra/overrides.yaml``) and, when the sweep has one
(``study.json``, written by the ``gru_optuna`` sweeper), its Optuna study. Prints the
runs sorted by objective within each sweep (completed, then pruned, then the rest) and
writes to ``--out`` (default: the first sweep directory):

- ``results.csv`` / ``results.md``: sweep, run, trial, status, hidden_dim, num_layers,
  lr, batch_size (and any other parameter that varies), parameter count, best and run
  epochs, wall time (s), the objective (best ``optimized_metric``) and the note
  (COnPOff / COnP / COn F1) and frame (voiced / onset / offset F1, loss) validation
  metrics at the best epoch;
- ``heatmap.png``: objective over hidden_dim x num_layers (one panel per sweep);
- ``pareto.png``: objective vs parameter count and vs wall time, Pareto front marked;
- ``curves.png``: the validation curves of every run (objective and loss per epoch);
- ``optuna_history.png`` and ``optuna_importance.png`` for sweeps with a study: Optuna's
  optimisation-history plot (value of each completed trial, best so far) and its
  parameter-importance plot (PED-ANOVA over the completed trials, see :func:`param_importances`).

Failed, pruned, interrupted and unfinished runs are listed too; nothing in a broken run
directory stops the comparison.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from gru_attn.errors import InputError
from gru_attn.files import atomic_path, write_text
from gru_attn.plots import plt, save_figure
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


def _select(config: dict, dotted: str):
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
        return StudyInfo(name=study.study_name, direction=study.direction.name.lower(),
                         trials=study.get_trials(deepcopy=False), study=study)
    except Exception as exc:  # a study we cannot open must not stop the comparison
        log.warning("%s: cannot open the study (%s: %s); comparing the run directories only",
                    record, type(exc).__name__, exc)
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
    row.update({col: _select(run.config, key) for col, key in CORE_PARAMS.items()})
    row.update(_override_pairs(run.overrides))
    row.update({
        "parameters": summary.get("parameters"),
        "best_epoch": summary.get("best_epoch"),
        "epochs": len(run.history),
        "wall_time_s": summary.get("wall_time_s"),
        "objective": summary.get("best_value"),
    })
    row.update({col: best.get(key) for col, key in METRICS.items()})
    row["max_epochs"] = _select(run.config, "trainer.max_epochs")
    row["metric"] = summary.get("optimized_metric") or run.config.get("optimized_metric")
    row["direction"] = summary.get("direction") or run.config.get("optimized_direction") or "maximize"
    row["reason"] = summary.get("reason")
    return row


# -- table --------------------------------------------------------------------------------------


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def sort_rows(rows: list[dict]) -> list[dict]:
    """Within each sweep (in the given order): completed, pruned, ... ; by objective, best first."""
    sweeps = list(dict.fromkeys(r["sweep"] for r in rows))

    def key(r):
        sign = -1.0 if r["direction"] == "maximize" else 1.0
        objective = sign * r["objective"] if _is_number(r["objective"]) else math.inf
        rank = STATUS_ORDER.index(r["status"]) if r["status"] in STATUS_ORDER else len(STATUS_ORDER)
        return sweeps.index(r["sweep"]), rank, objective

    return sorted(rows, key=key)


def table_columns(rows: list[dict]) -> list[str]:
    """Columns in table order; extra override columns only where a value varies, ``sweep`` only for several."""
    fixed = ["sweep", "run", "trial", "status", *CORE_PARAMS, "parameters", "best_epoch", "epochs",
             "wall_time_s", "objective", *METRICS]
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
    pruned = [r for r in rows if r["status"] == "pruned" and _is_number(r["max_epochs"]) and r["epochs"]]
    if not pruned:
        return None
    epochs_saved = sum(int(r["max_epochs"]) - r["epochs"] for r in pruned)
    seconds_saved = sum((int(r["max_epochs"]) - r["epochs"]) * r["wall_time_s"] / r["epochs"]
                        for r in pruned if _is_number(r["wall_time_s"]))
    seconds_spent = sum(r["wall_time_s"] for r in rows if _is_number(r["wall_time_s"]))
    return {"pruned": len(pruned), "epochs_saved": epochs_saved, "epochs_run": sum(r["epochs"] for r in rows),
            "seconds_saved": seconds_saved, "seconds_spent": seconds_spent,
            "fraction": seconds_saved / (seconds_spent + seconds_saved) if seconds_spent + seconds_saved else 0.0}


def _savings_line(savings: dict) -> str:
    return (f"Pruning stopped {savings['pruned']} run(s) early: {savings['epochs_saved']} epochs not run "
            f"({savings['epochs_run']} run), about {savings['seconds_saved']:.0f} s of training saved "
            f"({100 * savings['fraction']:.0f}% of the {savings['seconds_spent'] + savings['seconds_saved']:.0f} s "
            f"the sweep would have taken without pruning).")


def write_markdown(sweeps: list[Sweep], rows: list[dict], columns: list[str], path: Path, plots: list[str]) -> None:
    parts = ["# Sweep comparison\n"]
    for sweep in sweeps:
        mine = [r for r in rows if r["sweep"] == sweep.label]
        metric = next((r["metric"] for r in mine if r["metric"]), "objective")
        counts = {s: sum(r["status"] == s for r in mine) for s in STATUS_ORDER}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        study = f"; Optuna study `{sweep.study.name}`" if sweep.study else ""
        parts.append(f"## {sweep.label}\n\n`{sweep.path}`: {len(mine)} runs ({summary}){study}; "
                     f"objective = best `{metric}`.\n")
        parts.append(format_table(mine, [c for c in columns if c != "sweep"], markdown=True))
        savings = pruning_savings(mine)
        if savings:
            parts.append(_savings_line(savings) + "\n")
        failed = [r for r in mine if r["reason"] and r["status"] not in ("completed",)]
        if failed:
            parts.append("\n".join(f"- run {r['run']} ({r['status']}): {r['reason']}" for r in failed) + "\n")
    parts.append("\n".join(f"![{p}]({p})" for p in plots) + "\n")
    write_text(path, "\n".join(parts))


# -- plots --------------------------------------------------------------------------------------


def _wide_positive(values) -> bool:
    """Whether ``values`` are all positive and span more than a factor of 10 (e.g. some losses diverged)."""
    values = np.asarray(values, dtype=float)
    return bool(values.size) and values.min() > 0 and values.max() > 10 * values.min()


def _text_colour(image, value: float) -> str:
    """Black on light cells (and empty ones), white on dark cells of ``image``."""
    if np.isnan(value):
        return "black"
    r, g, b, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def plot_heatmap(sweeps: list[Sweep], path: Path) -> bool:
    """Best objective per (num_layers, hidden_dim) cell, one panel per sweep; False when nothing to draw."""
    panels = [(s, [r for r in s.rows if _is_number(r["hidden_dim"]) and _is_number(r["num_layers"])])
              for s in sweeps]
    panels = [(s, rows) for s, rows in panels if rows]
    if not panels:
        return False
    from matplotlib.colors import LogNorm
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, (sweep, rows) in zip(axes[0], panels):
        hidden = sorted({int(r["hidden_dim"]) for r in rows})
        layers = sorted({int(r["num_layers"]) for r in rows})
        grid = np.full((len(layers), len(hidden)), np.nan)
        marks = [["" for _ in hidden] for _ in layers]
        maximize = rows[0]["direction"] == "maximize"
        for r in rows:
            i, j = layers.index(int(r["num_layers"])), hidden.index(int(r["hidden_dim"]))
            value = r["objective"] if r["status"] in ("completed", "pruned") and _is_number(r["objective"]) else None
            if value is not None and (np.isnan(grid[i, j]) or (value > grid[i, j]) == maximize):
                grid[i, j] = value
                marks[i][j] = "P" if r["status"] == "pruned" else ""
            elif value is None and np.isnan(grid[i, j]):
                marks[i][j] = {"failed": "failed", "interrupted": "stopped"}.get(r["status"], r["status"][:7])
        finite = grid[~np.isnan(grid)]
        norm = LogNorm() if _wide_positive(finite) else None
        image = ax.imshow(grid, origin="lower", cmap="viridis" if maximize else "viridis_r", aspect="auto", norm=norm)
        for i in range(len(layers)):
            for j in range(len(hidden)):
                text = f"{grid[i, j]:.3f}" if not np.isnan(grid[i, j]) else ""
                text = " ".join(t for t in (text, marks[i][j]) if t)
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=_text_colour(image, grid[i, j]))
        ax.set_xticks(range(len(hidden)), [str(h) for h in hidden])
        ax.set_yticks(range(len(layers)), [str(n) for n in layers])
        ax.set_xlabel("hidden_dim")
        ax.set_ylabel("num_layers")
        ax.set_title(f"{sweep.label}: best {rows[0]['metric']}" + ("\n(P = pruned)" if any(
            r["status"] == "pruned" for r in rows) else ""), fontsize=9)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    save_figure(fig, path)
    return True


def pareto_front(costs: Sequence[float], values: Sequence[float], maximize: bool) -> list[int]:
    """Indices of the points no other point beats (cost no higher and value no worse, one strictly), by cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -values[i] if maximize else values[i]))
    front, best = [], None
    for i in order:
        if best is None or (values[i] > best if maximize else values[i] < best):
            front.append(i)
            best = values[i]
    return front


def plot_pareto(rows: list[dict], path: Path) -> bool:
    """Objective vs parameter count and vs wall time (completed runs), Pareto fronts marked."""
    done = [r for r in rows if r["status"] == "completed" and _is_number(r["objective"])]
    if not done:
        return False
    from matplotlib.ticker import NullFormatter

    maximize = done[0]["direction"] == "maximize"
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for ax, cost, label in ((axes[0], "parameters", "trainable parameters"), (axes[1], "wall_time_s", "wall time (s)")):
        points = [r for r in done if _is_number(r[cost]) and r[cost] > 0]
        for sweep in dict.fromkeys(r["sweep"] for r in points):
            mine = [r for r in points if r["sweep"] == sweep]
            ax.scatter([r[cost] for r in mine], [r["objective"] for r in mine], s=22, alpha=0.8, label=sweep)
        if points:
            costs, values = [r[cost] for r in points], [r["objective"] for r in points]
            front = [points[i] for i in pareto_front(costs, values, maximize)]
            ax.step([r[cost] for r in front], [r["objective"] for r in front], where="post", color="crimson", lw=1)
            ax.scatter([r[cost] for r in front], [r["objective"] for r in front], s=70, facecolors="none",
                       edgecolors="crimson", label="Pareto front")
            for r in front:
                ax.annotate(f"{r['hidden_dim']}x{r['num_layers']}", (r[cost], r["objective"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel(f"best {done[0]['metric']}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    return True


def plot_curves(sweeps: list[Sweep], path: Path) -> bool:
    """Per-epoch validation curves of every run that has epochs: the objective, and the
    validation loss (or, when the loss is the objective, ``val/COnP_f1``); losses on a log scale."""
    runs = [(s, run) for s in sweeps for run in s.runs if run.history]
    if not runs:
        return False
    from matplotlib.ticker import MaxNLocator

    metric = next((r["metric"] for s in sweeps for r in s.rows if r["metric"]), "val/COnP_f1")
    keys = (metric, "val/COnP_f1" if metric == "val/loss" else "val/loss")
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for sweep, run in runs:
        epochs = [h.get("epoch") for h in run.history]
        size = f"{_select(run.config, 'model.hidden_dim')}x{_select(run.config, 'model.num_layers')}"
        label = f"{sweep.label}/{run.name} {size}" if len(sweeps) > 1 else f"{run.name}: {size}"
        for ax, key in zip(axes, keys):
            ax.plot(epochs, [h.get(key, np.nan) for h in run.history], "--" if run.status == "pruned" else "-",
                    marker=".", lw=1, label=label)
    for ax, key in zip(axes, keys):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if "loss" in key:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if len(runs) <= 16:
        axes[1].legend(fontsize=5, ncol=2)
    axes[0].set_title("dashed: pruned", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return True


def param_importances(study) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA, which needs no scikit-learn) of the completed trials;
    ``{}`` when they cannot be estimated (too few completed trials, nothing varies)."""
    import optuna

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            shares = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        log.info("study %s: no parameter importances (%s)", study.study_name, exc)
        return {}
    if any("too small to compute importances" in str(w.message) for w in caught):
        return {}  # Optuna would report equal shares
    return shares


def plot_study(sweep: Sweep, history_path: Path, importance_path: Path) -> list[Path]:
    """Optuna's optimisation history and parameter-importance plots of the sweep's study; the files written."""
    import optuna
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_plots

    study = sweep.study.study
    complete = [t for t in sweep.study.trials if t.state == TrialState.COMPLETE and _is_number(t.value)]
    if not complete:
        return []
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna_plots.plot_optimization_history(study)
        ax.set_title(f"study {study.study_name}", fontsize=9)
        save_figure(ax.figure, history_path)
        written.append(history_path)
        if param_importances(study):
            ax = optuna_plots.plot_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
            ax.set_title(f"parameter importance (PED-ANOVA), {len(complete)} complete trials", fontsize=9)
            save_figure(ax.figure, importance_path)
            written.append(importance_path)
    return written


# -- command line -------------------------------------------------------------------------------


def _labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, or longer path tails where names collide."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def compare(sweep_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike | None = None,
            quiet: bool = False) -> list[dict]:
    """Compare the sweeps; writes the table and plots to ``out_dir`` and returns the sorted rows."""
    paths = [Path(p) for p in sweep_dirs]
    sweeps = [load_sweep(p, label) for p, label in zip(paths, _labels(paths))]
    for sweep in sweeps:
        sweep.rows = [run_row(sweep, run) for run in sweep.runs]
    rows = sort_rows([r for s in sweeps for r in s.rows])
    columns = table_columns(rows)
    out = Path(out_dir) if out_dir is not None else paths[0]
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    if plot_heatmap(sweeps, out / "heatmap.png"):
        plots.append("heatmap.png")
    if plot_pareto(rows, out / "pareto.png"):
        plots.append("pareto.png")
    if plot_curves(sweeps, out / "curves.png"):
        plots.append("curves.png")
    for sweep in sweeps:
        if sweep.study is not None:
            suffix = f"_{sweep.label}" if len(sweeps) > 1 else ""
            written = plot_study(sweep, out / f"optuna_history{suffix}.png", out / f"optuna_importance{suffix}.png")
            plots += [p.name for p in written]
    write_csv(rows, columns, out / "results.csv")
    write_markdown(sweeps, rows, columns, out / "results.md", plots)
    if not quiet:
        print(format_table(rows, columns), end="")
        for sweep in sweeps:
            savings = pruning_savings(sweep.rows)
            if savings:
                print(f"{sweep.label}: {_savings_line(savings)}")
        print(f"\nwrote {out / 'results.csv'}, {out / 'results.md'} and {', '.join(plots) or 'no plots'}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    from gru_attn.errors import ArgumentParser, print_error, safe_streams
    from gru_attn.files import check_out_folder, os_reason

    safe_streams()
    parser = ArgumentParser(prog="python -m gru_attn.compare",
                            description="Compare the runs of one or more sweep directories.")
    parser.add_argument("sweep_dirs", nargs="+", help="sweep directories, e.g. multirun/grid")
    parser.add_argument("--out", default=None, help="where to write results.csv/.md and plots "
                                                    "(default: the first sweep directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.out is not None:
            check_out_folder(args.out)  # an existing file, or a folder that cannot be created: one line
        compare(args.sweep_dirs, args.out)
    except InputError as exc:
        print_error(exc)
        return 2
    except OSError as exc:  # a full disk, an unwritable folder
        print_error(f"{exc.filename or args.out or args.sweep_dirs[0]}: {os_reason(exc)}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
