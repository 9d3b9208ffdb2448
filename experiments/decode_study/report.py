"""Tables and a plot for the decode study: before (one decode_study run) -> after (another), plus a sweep.

    python experiments/decode_study/report.py --before RUN_DIR --after RUN_DIR [--sweep SWEEP_DIR] --out DIR

RUN_DIR: a `python -m gru_attn.decode_study` run folder (its metrics.json); SWEEP_DIR: a
`--multirun hparams_search=decode_segments` folder (one numbered run per trial). Writes
DIR/tables.md and DIR/decode_study.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(run: Path) -> dict:
    return json.loads((Path(run) / "metrics.json").read_text())


def table(before: dict, after: dict) -> str:
    rows = [
        "| set / condition | songs | notes ref | est before -> after | COnPOff before -> after | "
        "COnP before -> after | COn before -> after |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, b in before["groups"].items():
        a = after["groups"][key]
        rows.append(
            f"| {key} | {b['songs']} | {b['ref_notes']} | {b['est_notes']} -> {a['est_notes']} | "
            + " | ".join(f"{b[m]:.3f} -> **{a[m]:.3f}**" for m in ("COnPOff_f1", "COnP_f1", "COn_f1"))
            + " |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--sweep")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    before, after = read(args.before), read(args.after)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = [
        table(before, after),
        "",
        f"objective {before['summary']['objective']:.4f} -> {after['summary']['objective']:.4f}; decode "
        f"{before['summary']['decode_seconds_per_minute']:.3f} -> "
        f"{after['summary']['decode_seconds_per_minute']:.3f} s per minute of audio (one core)",
    ]
    (out / "tables.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))

    keys = list(before["groups"])
    n_plots = 3 if args.sweep else 2
    fig, axes = plt.subplots(1, n_plots, figsize=(5.5 * n_plots, 4.2))
    for ax, metric in zip(axes, ("COnP_f1", "COnPOff_f1")):
        x = range(len(keys))
        ax.bar([i - 0.2 for i in x], [before["groups"][k][metric] for k in keys], 0.4, label="before")
        ax.bar([i + 0.2 for i in x], [after["groups"][k][metric] for k in keys], 0.4, label="after")
        ax.set_xticks(list(x))
        ax.set_xticklabels(keys, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(metric.replace("_f1", " F1"))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    if args.sweep:
        trials, sweep_sets = [], None
        for run in Path(args.sweep).iterdir():
            if run.name.isdigit() and (run / "metrics.json").is_file():
                metrics = json.loads((run / "metrics.json").read_text())
                summary = metrics["summary"]
                sweep_sets = sweep_sets or [k for k in metrics.get("groups", {}) if "/" not in k]
                if "objective" in summary:
                    trials.append((int(run.name), summary["objective"]))
        trials.sort()
        ax = axes[2]
        ax.plot([t for t, _ in trials], [v for _, v in trials], ".", alpha=0.6, label="trial")
        best, line = -1.0, []
        for _, v in trials:
            best = max(best, v)
            line.append(best)
        ax.plot([t for t, _ in trials], line, "-", label="best so far")
        g = before["groups"]
        ax.axhline(
            sum((g[k]["COnP_f1"] + g[k]["COnPOff_f1"]) / 2 for k in sweep_sets) / len(sweep_sets),
            color="gray",
            ls="--",
            label="before",
        )
        ax.set_ylim(bottom=max(0.0, min(v for _, v in trials) - 0.02))
        ax.set_xlabel("trial")
        ax.set_title(f"sweep objective ({', '.join(sweep_sets)})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "decode_study.png", dpi=110)


if __name__ == "__main__":
    main()
