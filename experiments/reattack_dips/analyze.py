"""Level dips at legato re-attacks and inside notes: could a loudness cue split repeated notes?

For every labelled set given (a folder ``wav/`` of clips and ``notes/`` of reference CSVs
``onset,offset,midi``, optionally a ``clips.csv`` with a ``cond`` column), counts per
condition and dip depth ``D`` (dB):

- **re-attacks**: reference boundaries between two notes of the same pitch with less than
  30 ms between them (legato repeated notes, where the decoder has only onset evidence),
  and how many of them have a level dip of at least ``D`` within 60 ms;
- **dips inside notes**: level dips of at least ``D`` more than 80 ms from both ends of a
  reference note longer than 200 ms (where a loudness cue would split a note wrongly), and
  the seconds of note interior searched.

Level: RMS in dB of 40 ms around each 20 ms frame centre (the CFP frame grid). A dip at
frame ``t`` is a local minimum whose depth is the smaller of the maxima over the 5 frames
before and after, minus its own level.

    python experiments/reattack_dips/analyze.py SET_DIR [SET_DIR ...]

Prints a Markdown table; reads only the given folders (nothing is copied).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from gru_attn.audio import load_audio
from gru_attn.frames import HOP, SAMPLE_RATE, num_frames
from gru_attn.notes import read_notes

DEPTHS_DB = (6.0, 10.0, 15.0)
WINDOW = 5  # frames each side for a dip's depth
LEGATO_GAP_S = 0.03
NEAR_S = 0.06
INSIDE_MARGIN_S = 0.08
MIN_NOTE_S = 0.2


def level_db(x: np.ndarray) -> np.ndarray:
    """(T,) RMS level in dB of the 40 ms around each frame centre (sample 320 (k + 1))."""
    padded = np.pad(x, (HOP, HOP))
    n = num_frames(len(x))
    frames = np.stack([padded[HOP * (k + 1) : HOP * (k + 3)] for k in range(n)]) if n else np.zeros((0, 2 * HOP))
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)


def dip_times(level: np.ndarray, depth_db: float) -> np.ndarray:
    """Centre times (s) of the local level minima at least ``depth_db`` below both sides."""
    out = []
    for t in range(WINDOW, len(level) - WINDOW):
        if level[t] == level[t - 1 : t + 2].min():
            depth = min(level[t - WINDOW : t].max(), level[t + 1 : t + WINDOW + 1].max()) - level[t]
            if depth >= depth_db:
                out.append(t)
    return (np.asarray(out, dtype=np.float64) + 1.0) * HOP / SAMPLE_RATE


def clips(set_dir: Path) -> dict[str, list[str]]:
    """{condition: [clip name, ...]} from clips.csv (else one condition, "all")."""
    table = set_dir / "clips.csv"
    names = sorted(p.stem for p in (set_dir / "notes").glob("*.csv"))
    if not table.is_file():
        return {"all": names}
    out: dict[str, list[str]] = {}
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            if row["name"] in names:
                out.setdefault(row.get("cond") or "all", []).append(row["name"])
    return out


def count(set_dir: Path, names: list[str], depth_db: float) -> tuple[int, int, int, float]:
    """(re-attacks, re-attacks with a dip, dips inside notes, seconds of note interior)."""
    reattacks = with_dip = inside = 0
    interior = 0.0
    for name in names:
        notes = read_notes(set_dir / "notes" / f"{name}.csv")
        dips = dip_times(level_db(load_audio(set_dir / "wav" / f"{name}.wav")), depth_db)
        on, off, midi = notes.onsets, notes.offsets, notes.midi
        for i in range(1, len(on)):
            if midi[i] == midi[i - 1] and on[i] - off[i - 1] < LEGATO_GAP_S:
                reattacks += 1
                with_dip += bool(np.any(np.abs(dips - on[i]) <= NEAR_S))
        for a, b in zip(on, off):
            if b - a > MIN_NOTE_S:
                inside += int(np.sum((dips > a + INSIDE_MARGIN_S) & (dips < b - INSIDE_MARGIN_S)))
                interior += b - a - 2 * INSIDE_MARGIN_S
    return reattacks, with_dip, inside, interior


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path, help="folders with wav/ and notes/ (and clips.csv)")
    args = parser.parse_args(argv)
    print("| set | condition | dip >= dB | re-attacks | with a dip | dips inside notes | note interior s |")
    print("|---|---|---|---|---|---|---|")
    for set_dir in args.sets:
        for cond, names in clips(set_dir).items():
            for depth in DEPTHS_DB:
                r, w, i, s = count(set_dir, names, depth)
                print(f"| {set_dir.name} | {cond} | {depth:g} | {r} | {w} | {i} | {s:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
