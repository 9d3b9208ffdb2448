"""CLI: make the model shipped with the package, ``gru_attn/weights/default.pt``.

    python -m gru_attn.package_model CHECKPOINT [--decode NAME|YAML] [--devset DIR]
        [--crossgen-dir DIR] [--no-crossgen] [--force] [--out FILE]

``transcribe`` and ``evaluate`` use the shipped model when no ``--ckpt`` is given. It is an
inference-only checkpoint (:mod:`gru_attn.checkpoint` format, loaded by
:func:`gru_attn.inference.load_model` with the same checks as any checkpoint): the
weights stored as float16 (cast back to float32 when loaded), the model config, feature
layout, decoder (``--decode`` replaces the checkpoint's), pitch method and training
config, and a ``card``: where it came from (source file, epoch, its validation value,
git commit, date) and its scores on the development sets per condition.

The development sets judge it (never the corpus test split, never training data):

- the cross-generator set (``python -m gru_attn.crossgen``: GM voices through fluidsynth),
  generated with its default settings into ``--crossgen-dir`` (``--no-crossgen`` skips it);
- ``--devset DIR`` (default ``../shared/devsets/resung`` beside the repository, skipped
  when absent): ``DIR/wav``, ``DIR/notes``, ``DIR/clips.csv`` (a ``cond`` per clip).

A shipped model is replaced only when the candidate wins: a higher mean over the sets
of (COnP F1 + COnPOff F1) / 2, both models scored now by the same code on the same sets.
``--force`` writes it anyway (e.g. after a change of feature layout). The file is
written atomically; a markdown model card is printed for the README.
Exit status 0 (written), 1 (kept the shipped model: the candidate does not win), 2 (bad input).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

import torch

from gru_attn.checkpoint import PACKAGED_MODEL, load_checkpoint, save_checkpoint
from gru_attn.errors import InputError, print_error
from gru_attn.evaluate import audio_songs, condition_means, evaluate, read_conditions
from gru_attn.inference import load_model, with_decoder

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEVSET = REPO.parent / "shared" / "devsets" / "resung"
DEFAULT_CROSSGEN = Path("generated/crossgen")
SCORES = ("COnPOff_f1", "COnP_f1", "COn_f1")


def dev_sets(devset: Path | None, crossgen_dir: Path | None) -> dict[str, tuple[Path, Path, dict | None]]:
    """``{set name: (wav dir, notes dir, {clip: condition} or None)}`` of the development sets present."""
    sets = {}
    if crossgen_dir is not None:
        from gru_attn.tools.crossgen import CONDITIONS, generate

        generate(crossgen_dir)
        for cond in CONDITIONS:
            sets[f"crossgen/{cond}"] = (crossgen_dir / cond / "wav", crossgen_dir / cond / "notes", None)
    if devset is not None and (devset / "wav").is_dir():
        conditions = read_conditions(devset / "clips.csv") if (devset / "clips.csv").is_file() else None
        sets[devset.name] = (devset / "wav", devset / "notes", conditions)
    return sets


def score(model, info, sets: dict, progress: bool = False) -> dict:
    """``{set: {condition or "all": {COnPOff_f1, COnP_f1, COn_f1, songs}}}`` of ``model`` on ``sets``."""
    out = {}
    for name, (wav_dir, notes_dir, conditions) in sets.items():
        results = evaluate(model, info, audio_songs(wav_dir, notes_dir), progress=progress)
        if conditions:
            means = condition_means(results["per_song"], conditions, source=str(notes_dir.parent / "clips.csv"))
        else:
            means = {"all": {"songs": len(results["per_song"]), **results["mean"]}}
        out[name] = {
            cond: {"songs": m["songs"], **{k: round(float(m[k]), 4) for k in SCORES}} for cond, m in means.items()
        }
    return out


def merit(scores: dict) -> float:
    """Mean over the sets of (COnP F1 + COnPOff F1) / 2 of each set's ``all`` row."""
    rows = [by_cond["all"] for by_cond in scores.values()]
    return sum((r["COnP_f1"] + r["COnPOff_f1"]) / 2 for r in rows) / len(rows)


def git_commit() -> str | None:
    """The repository's HEAD commit, or None outside a git checkout."""
    try:
        return (
            subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def shipped_state(path: Path, info, scores: dict) -> dict:
    """The inference-only checkpoint of ``path`` (already loaded as ``info``): float16 weights + ``card``."""
    state = load_checkpoint(path)
    weights = {k: v.half() if torch.is_floating_point(v) else v for k, v in state["model"].items()}
    best = state.get("best") or {}
    card = {
        "source": str(path),
        "epoch": state.get("epoch"),
        "metric": best.get("metric"),
        "value": best.get("value"),
        "commit": git_commit(),
        "date": datetime.date.today().isoformat(),
        "scores": scores,
    }
    return {
        "model": weights,
        "model_config": state["model_config"],
        "feature_layout": state["feature_layout"],
        "decode": info.decode.as_dict(),
        "pitch_method": info.pitch_method,
        "config": state.get("config") or {},
        "epoch": state.get("epoch"),
        "card": card,
    }


def model_card(scores: dict) -> str:
    """Markdown table of ``scores`` (:func:`score`): one row per set and condition."""
    lines = ["| set | condition | songs | COnPOff | COnP | COn |", "|---|---|---|---|---|---|"]
    for name, by_cond in scores.items():
        for cond, row in by_cond.items():
            lines.append(
                f"| {name} | {cond} | {row['songs']} | {row['COnPOff_f1']:.3f} | {row['COnP_f1']:.3f} "
                f"| {row['COn_f1']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gru_attn.package_model", description=__doc__.split("\n")[0])
    parser.add_argument("ckpt", help="checkpoint written by `python -m gru_attn.train` (e.g. .../checkpoints/best.pt)")
    parser.add_argument(
        "--decode",
        default=None,
        metavar="NAME|YAML",
        help="ship with this decoder (a conf/decode name or YAML file; default: the checkpoint's)",
    )
    parser.add_argument(
        "--devset",
        default=str(DEFAULT_DEVSET),
        help=f"a development set folder with wav/, notes/, clips.csv (default: {DEFAULT_DEVSET}; skipped when absent)",
    )
    parser.add_argument(
        "--crossgen-dir",
        default=str(DEFAULT_CROSSGEN),
        help=f"the cross-generator set's folder (generated if absent; default: {DEFAULT_CROSSGEN})",
    )
    parser.add_argument("--no-crossgen", action="store_true", help="do not judge on the cross-generator set")
    parser.add_argument("--force", action="store_true", help="replace the shipped model even if it does not win")
    parser.add_argument("--out", default=str(PACKAGED_MODEL), help=f"where to write (default: {PACKAGED_MODEL})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    progress = sys.stderr.isatty()
    try:
        torch.set_num_threads(max(1, torch.get_num_threads()))
        model, info = load_model(args.ckpt)
        info = with_decoder(info, args.decode)
        sets = dev_sets(Path(args.devset), None if args.no_crossgen else Path(args.crossgen_dir))
        if not sets:
            raise InputError(f"{args.devset}: no development set to judge the model on (and --no-crossgen)")
        print(f"judging on {', '.join(sets)}")
        scores = score(model, info, sets, progress)
        ours = merit(scores)
        print(f"candidate {args.ckpt}: merit {ours:.4f}")
        if out.exists():
            shipped, shipped_info = load_model(out)
            theirs = merit(score(shipped, shipped_info, sets, progress))
            print(f"shipped {out}: merit {theirs:.4f}")
            if ours <= theirs and not args.force:
                print(f"kept {out}: the candidate does not win on the development sets (use --force to replace it)")
                return 1
        state = shipped_state(Path(args.ckpt), info, scores)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(state, out)
        load_model(out)  # the shipped file passes the checks every checkpoint passes
    except InputError as exc:
        print_error(exc)
        return 2
    print(model_card(scores), end="")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
