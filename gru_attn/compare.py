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
  parameter-importance plot (PED-ANOVA over the completed trials, see
  :func:`gru_attn.sweep.figures.param_importances`).

Failed, pruned, interrupted and unfinished runs are listed too; nothing in a broken run
directory stops the comparison. The rows and table are :mod:`gru_attn.sweep.table`'s, the
plots :mod:`gru_attn.sweep.figures`'s.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from gru_attn.errors import ArgumentParser, InputError, print_error, safe_streams
from gru_attn.files import check_out_folder, os_reason
from gru_attn.sweep.figures import plot_curves, plot_heatmap, plot_pareto, plot_study
from gru_attn.sweep.table import (
    format_table,
    load_sweep,
    pruning_savings,
    run_row,
    savings_line,
    sort_rows,
    table_columns,
    write_csv,
    write_markdown,
)


def _labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, or longer path tails where names collide."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def compare(
    sweep_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike | None = None, quiet: bool = False
) -> list[dict]:
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
                print(f"{sweep.label}: {savings_line(savings)}")
        print(f"\nwrote {out / 'results.csv'}, {out / 'results.md'} and {', '.join(plots) or 'no plots'}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    safe_streams()
    parser = ArgumentParser(
        prog="python -m gru_attn.compare", description="Compare the runs of one or more sweep directories."
    )
    parser.add_argument("sweep_dirs", nargs="+", help="sweep directories, e.g. multirun/grid")
    parser.add_argument(
        "--out", default=None, help="where to write results.csv/.md and plots (default: the first sweep directory)"
    )
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # Optuna's plots go through pyplot: never open a window
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
