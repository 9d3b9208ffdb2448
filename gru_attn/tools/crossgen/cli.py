"""The cross-generator's command line (``python -m gru_attn.crossgen``; see :mod:`gru_attn.tools.crossgen`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gru_attn.errors import ArgumentParser, InputError, print_error
from gru_attn.files import os_reason, write_json, write_text
from gru_attn.pitch import tracker_names
from gru_attn.tools.crossgen.cache import generate
from gru_attn.tools.crossgen.render import DEFAULT_SOUNDFONT
from gru_attn.tools.crossgen.report import evaluate_set, format_markdown
from gru_attn.tools.crossgen.song import CONDITIONS

DEFAULT_OUT = Path("generated/crossgen")
DESCRIPTION = "A cross-generator evaluation set: sampled GM voices rendered by fluidsynth, scored per condition."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m gru_attn.crossgen", description=DESCRIPTION)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"set folder (default: {DEFAULT_OUT})")
    parser.add_argument("--songs", type=int, default=8, help="songs per condition (default: 8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per song (default: 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default: 0)")
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help=f"comma-separated subset of {','.join(CONDITIONS)} (default: all)",
    )
    parser.add_argument(
        "--soundfont", default=str(DEFAULT_SOUNDFONT), help=f"GM soundfont (default: {DEFAULT_SOUNDFONT})"
    )
    parser.add_argument("--ckpt", help="evaluate this checkpoint on the set")
    parser.add_argument(
        "--pitch-method", default=None, help="override the checkpoint's pitch tracker (praat, world, harvest)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--report", default=None, help="folder for <checkpoint stem>.md/.json (default: <out>/report)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 missing tool, bad option, checkpoint or set)."""
    args = parse_args(argv)
    out = Path(args.out)
    conditions = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    progress = sys.stderr.isatty()
    try:
        if args.pitch_method is not None and args.pitch_method not in tracker_names():
            raise InputError(f"--pitch-method {args.pitch_method}: expected one of {', '.join(tracker_names())}")
        manifest = generate(
            out,
            songs=args.songs,
            seconds=args.seconds,
            seed=args.seed,
            soundfont=Path(args.soundfont),
            conditions=conditions,
            progress=progress,
        )
        print(
            f"cross-generator set in {out}: {args.songs} song(s) x {len(conditions)} condition(s) of "
            f"{args.seconds:g} s (seed {args.seed}; label delays {manifest['calibration']})"
        )
        if not args.ckpt:
            return 0
        results = evaluate_set(
            args.ckpt,
            out,
            songs=args.songs,
            conditions=conditions,
            pitch_method=args.pitch_method,
            device=args.device,
            progress=progress,
        )
        report = Path(args.report) if args.report else out / "report"
        stem = (
            Path(args.ckpt).stem
            if Path(args.ckpt).parent.name != "checkpoints"
            else f"{Path(args.ckpt).parent.parent.name}_{Path(args.ckpt).stem}"
        )
        table = format_markdown(results)
        write_text(report / f"{stem}.md", table)
        write_json(report / f"{stem}.json", results)
    except InputError as exc:
        print_error(exc)
        return 2
    except OSError as exc:
        print_error(f"{exc.filename or out}: {os_reason(exc)}")
        return 2
    print(table, end="")
    print(f"wrote {report / (stem + '.md')} and {report / (stem + '.json')}")
    return 0
