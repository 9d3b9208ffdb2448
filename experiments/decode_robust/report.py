"""Tables and plot of the multi-checkpoint decode study (experiments/decode_robust/README.md).

    python experiments/decode_robust/report.py --cache DIR --before OLD.yaml --after conf/decode/segments.yaml \
        --sweep multirun/decode_robust --out experiments/decode_robust

``DIR`` holds one folder per (checkpoint, set), named ``<checkpoint>_<set>`` (links to
``decode_cache`` folders). Decodes every cached song with the ``--before`` and ``--after``
decoders (YAML files or names of conf/decode/), writes ``tables.md`` (per checkpoint: the
objective; per checkpoint, set and condition: COnP / COnPOff F1 before -> after) and
``decode_robust.png`` (objective per checkpoint, before and after; the study's trials).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gru_attn.decode import load_decoder  # noqa: E402
from gru_attn.decode_study import load_set, objective, score  # noqa: E402
from gru_attn.files import write_text  # noqa: E402


def checkpoint_of(folder: str) -> str:
    return folder.rsplit("_", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--sweep", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names = sorted(p.name for p in args.cache.iterdir() if p.is_dir())
    sets = {n: load_set(args.cache / n) for n in names}
    checkpoints = list(dict.fromkeys(checkpoint_of(n) for n in names))
    groups = {}
    for label, option in (("before", args.before), ("after", args.after)):
        groups[label] = score(load_decoder(option), sets)["groups"]
    per = {
        label: {c: objective(g, [n for n in names if checkpoint_of(n) == c]) for c in checkpoints}
        for label, g in groups.items()
    }
    lines = [
        "| checkpoint | objective before | after |",
        "|---|---|---|",
        *(f"| {c} | {per['before'][c]:.4f} | **{per['after'][c]:.4f}** |" for c in checkpoints),
        f"| all ({len(names)} sets) | {objective(groups['before'], names):.4f} | "
        f"**{objective(groups['after'], names):.4f}** |",
        "",
        "| checkpoint | set | condition | songs | COnP before -> after | COnPOff before -> after |",
        "|---|---|---|---|---|---|",
    ]
    for key in groups["before"]:
        folder, _, cond = key.partition("/")
        b, a = groups["before"][key], groups["after"][key]
        lines.append(
            f"| {checkpoint_of(folder)} | {folder.rsplit('_', 1)[1]} | {cond or 'all'} | {b['songs']} | "
            f"{b['COnP_f1']:.3f} -> {a['COnP_f1']:.3f} | {b['COnPOff_f1']:.3f} -> {a['COnPOff_f1']:.3f} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "tables.md", "\n".join(lines) + "\n")
    trials = []
    for path in args.sweep.glob("*/metrics.json"):
        if path.parent.name.isdigit():
            trials.append((int(path.parent.name), json.loads(path.read_text())["summary"]["objective"]))
    trials.sort()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = range(len(checkpoints))
    left.bar([i - 0.2 for i in x], [per["before"][c] for c in checkpoints], 0.4, label="before")
    left.bar([i + 0.2 for i in x], [per["after"][c] for c in checkpoints], 0.4, label="after")
    left.set_xticks(list(x), checkpoints, rotation=30)
    left.set_ylim(0.7, 0.85)
    left.set_ylabel("objective: mean of (COnP + COnPOff) / 2")
    left.set_title("per checkpoint")
    left.legend()
    if trials:
        right.plot([t for t, _ in trials], [v for _, v in trials], ".", alpha=0.6)
        right.axhline(objective(groups["before"], names), color="C1", label="before")
        right.set_ylim(0.7, 0.82)
        right.set_xlabel("trial")
        right.set_title(f"study: {len(trials)} trials, objective over all {len(names)} sets")
        right.legend()
    fig.tight_layout()
    fig.savefig(args.out / "decode_robust.png", dpi=100)
    print("\n".join(lines[: len(checkpoints) + 3]))


if __name__ == "__main__":
    main()
