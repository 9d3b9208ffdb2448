"""The sweep figures of ``python -m gru_attn.compare``: heatmap, Pareto fronts, validation
curves and Optuna's own history and importance plots.

Drawn on matplotlib's object-oriented :class:`~matplotlib.figure.Figure` (no pyplot, no
global backend), except Optuna's plots, which go through pyplot.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from gru_attn.plots import new_figure, save_figure
from gru_attn.sweep.table import Sweep, config_value, is_number

log = logging.getLogger(__name__)


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
    panels = [(s, [r for r in s.rows if is_number(r["hidden_dim"]) and is_number(r["num_layers"])]) for s in sweeps]
    panels = [(s, rows) for s, rows in panels if rows]
    if not panels:
        return False
    from matplotlib.colors import LogNorm

    fig = new_figure(figsize=(4.6 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (sweep, rows) in zip(axes[0], panels):
        hidden = sorted({int(r["hidden_dim"]) for r in rows})
        layers = sorted({int(r["num_layers"]) for r in rows})
        grid = np.full((len(layers), len(hidden)), np.nan)
        marks = [["" for _ in hidden] for _ in layers]
        maximize = rows[0]["direction"] == "maximize"
        for r in rows:
            i, j = layers.index(int(r["num_layers"])), hidden.index(int(r["hidden_dim"]))
            value = r["objective"] if r["status"] in ("completed", "pruned") and is_number(r["objective"]) else None
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
        ax.set_title(
            f"{sweep.label}: best {rows[0]['metric']}"
            + ("\n(P = pruned)" if any(r["status"] == "pruned" for r in rows) else ""),
            fontsize=9,
        )
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
    done = [r for r in rows if r["status"] == "completed" and is_number(r["objective"])]
    if not done:
        return False
    from matplotlib.ticker import NullFormatter

    maximize = done[0]["direction"] == "maximize"
    fig = new_figure(figsize=(9.5, 3.8))
    axes = fig.subplots(1, 2)
    for ax, cost, label in ((axes[0], "parameters", "trainable parameters"), (axes[1], "wall_time_s", "wall time (s)")):
        points = [r for r in done if is_number(r[cost]) and r[cost] > 0]
        for sweep in dict.fromkeys(r["sweep"] for r in points):
            mine = [r for r in points if r["sweep"] == sweep]
            ax.scatter([r[cost] for r in mine], [r["objective"] for r in mine], s=22, alpha=0.8, label=sweep)
        if points:
            costs, values = [r[cost] for r in points], [r["objective"] for r in points]
            front = [points[i] for i in pareto_front(costs, values, maximize)]
            ax.step([r[cost] for r in front], [r["objective"] for r in front], where="post", color="crimson", lw=1)
            ax.scatter(
                [r[cost] for r in front],
                [r["objective"] for r in front],
                s=70,
                facecolors="none",
                edgecolors="crimson",
                label="Pareto front",
            )
            for r in front:
                ax.annotate(
                    f"{r['hidden_dim']}x{r['num_layers']}",
                    (r[cost], r["objective"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
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
    fig = new_figure(figsize=(9.5, 3.8))
    axes = fig.subplots(1, 2)
    for sweep, run in runs:
        epochs = [h.get("epoch") for h in run.history]
        size = f"{config_value(run.config, 'model.hidden_dim')}x{config_value(run.config, 'model.num_layers')}"
        label = f"{sweep.label}/{run.name} {size}" if len(sweeps) > 1 else f"{run.name}: {size}"
        for ax, key in zip(axes, keys):
            ax.plot(
                epochs,
                [h.get(key, np.nan) for h in run.history],
                "--" if run.status == "pruned" else "-",
                marker=".",
                lw=1,
                label=label,
            )
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
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
            )
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
    complete = [t for t in sweep.study.trials if t.state == TrialState.COMPLETE and is_number(t.value)]
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
            ax = optuna_plots.plot_param_importances(study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
            ax.set_title(f"parameter importance (PED-ANOVA), {len(complete)} complete trials", fontsize=9)
            save_figure(ax.figure, importance_path)
            written.append(importance_path)
    return written
