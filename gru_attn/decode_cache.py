"""CLI: run a checkpoint once over labelled sets and cache its frame outputs, for decode-only studies.

    python -m gru_attn.decode_cache --ckpt CHECKPOINT --out DIR [--val] [--crossgen DIR]
        [--devset NAME=DIR ...] [--device auto]

Each set becomes ``DIR/<set>/<song>.npz`` holding ``logits`` (T, n_outputs) float32
(the model's raw outputs, :func:`gru_attn.model.predict_song`), ``ref`` (N, 3) reference
notes (onset s, offset s, MIDI), ``cond`` (the song's condition) and, when the
checkpoint's pitch method is an audio tracker, ``pitch`` (T,) Hz; songs read from audio
(``--crossgen``, ``--devset``) also hold ``level`` (T,) float32 dB
(:func:`gru_attn.level.level_db`, the segment decoder's level cues); so do the ``--val``
songs when their corpus has audio (its ``wav_dir``, read as validation reads it). ``DIR/cache.json``
records the checkpoint and the sets. :mod:`gru_attn.decode_study` then decodes and
scores these with any decoder, with no model run.

Sets:

- ``--val``: the val split of the checkpoint's own corpus (condition ``val``);
- ``--crossgen DIR``: a :mod:`gru_attn.crossgen` set (``DIR/<condition>/{wav,notes}``;
  generate it first with ``python -m gru_attn.crossgen --out DIR``), set ``crossgen``;
- ``--devset NAME=DIR``: ``DIR/wav/*.wav`` + ``DIR/notes/<song>.<ext>``, conditions from
  the ``cond`` column of ``DIR/clips.csv`` when present (else ``all``), set ``NAME``.

Evaluation sets only: nothing here trains. Exit status 0, or 2 for a bad option or set.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from gru_attn.errors import InputError, print_error
from gru_attn.files import atomic_path, write_json
from gru_attn.level import level_for_frames

CONDITION_COLUMN = "cond"


def _save(path: Path, logits: np.ndarray, ref, cond: str, pitch=None, level=None) -> None:
    arrays = {
        "logits": np.asarray(logits, dtype=np.float32),
        "ref": np.asarray(ref.to_rows(), dtype=np.float64),
        "cond": np.array(cond),
    }
    if pitch is not None:
        arrays["pitch"] = np.asarray(pitch, dtype=np.float64)
    if level is not None:
        arrays["level"] = np.asarray(level, dtype=np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _conditions(folder: Path) -> dict[str, str]:
    clips = folder / "clips.csv"
    if not clips.is_file():
        return {}
    with open(clips, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and CONDITION_COLUMN not in rows[0]:
        raise InputError(f"{clips}: no {CONDITION_COLUMN!r} column")
    return {row["name"]: row[CONDITION_COLUMN] for row in rows if "name" in row}


def audio_set(wav_dir: Path, notes_dir: Path, conditions: dict[str, str] | str):
    """(name, audio, reference notes, condition) of every audio file of ``wav_dir``."""
    from gru_attn.evaluate import audio_songs

    for song in audio_songs(wav_dir, notes_dir):
        audio, ref = song.read()
        cond = conditions if isinstance(conditions, str) else conditions.get(song.name, "all")
        yield song.name, audio, ref, cond


def cache_sets(
    ckpt, out: Path, *, val: bool = False, crossgen=None, devsets=(), device="cpu", progress: bool = False
) -> dict:
    """Write the cache (see the module docstring); returns the ``cache.json`` record."""
    from gru_attn.evaluate import corpus_from_config
    from gru_attn.inference import features_for_audio, load_model
    from gru_attn.model import predict_song
    from gru_attn.pitch import MODEL_METHOD, track_pitch
    from gru_attn.tracked_pitch import ValidationLevel

    model, info = load_model(ckpt, device)
    tracker = None if info.pitch_method == MODEL_METHOD else info.pitch_method
    record = {"checkpoint": str(info.path), "epoch": info.epoch, "pitch_method": info.pitch_method, "sets": {}}

    def run_audio(name, set_dir, audio, ref, cond):
        feats = features_for_audio(audio, device=device, source=name)
        logits = predict_song(model, feats, device=device)
        pitch = None
        if tracker:
            pitch = track_pitch(audio, tracker)[: len(logits)]
            pitch = np.pad(pitch, (0, len(logits) - len(pitch)))
        _save(set_dir / f"{name}.npz", logits, ref, cond, pitch, level_for_frames(audio, len(logits)))

    jobs = []
    if val:
        jobs.append(("val", None))
    if crossgen is not None:
        jobs.append(("crossgen", Path(crossgen)))
    for spec in devsets:
        name, _, folder = spec.partition("=")
        if not name or not folder:
            raise InputError(f"--devset {spec}: expected NAME=DIR")
        jobs.append((name, Path(folder)))
    if not jobs:
        raise InputError("no set chosen: give --val, --crossgen DIR and/or --devset NAME=DIR")
    for set_name, folder in jobs:
        set_dir = out / set_name
        set_dir.mkdir(parents=True, exist_ok=True)
        count = 0
        if set_name == "val" and folder is None:
            songs, wav_dir = corpus_from_config(info, "val", with_wav_dir=True)
            level = None if wav_dir is None else ValidationLevel(wav_dir)  # as validation reads it
            for song in songs:
                logits = predict_song(model, song.feats, device=device)
                pitch = None if tracker is None else song.pitch
                song_level = None if level is None else level(song)
                _save(set_dir / f"{song.name}.npz", logits, song.notes, "val", pitch, song_level)
                count += 1
        elif set_name == "crossgen":
            conds = [d for d in sorted(folder.iterdir()) if (d / "wav").is_dir() and (d / "notes").is_dir()]
            if not conds:
                raise InputError(
                    f"--crossgen {folder}: no <condition>/wav and /notes folders "
                    "(python -m gru_attn.crossgen --out DIR makes them)"
                )
            for cond_dir in conds:
                for name, audio, ref, cond in audio_set(cond_dir / "wav", cond_dir / "notes", cond_dir.name):
                    run_audio(name, set_dir, audio, ref, cond)
                    count += 1
        else:
            if not (folder / "wav").is_dir() or not (folder / "notes").is_dir():
                raise InputError(f"--devset {set_name}={folder}: expected {folder}/wav and {folder}/notes")
            for name, audio, ref, cond in audio_set(folder / "wav", folder / "notes", _conditions(folder)):
                run_audio(name, set_dir, audio, ref, cond)
                count += 1
        record["sets"][set_name] = {"songs": count, "source": str(folder) if folder else "val split"}
        if progress:
            print(f"{set_name}: {count} songs cached", file=sys.stderr)
    write_json(out / "cache.json", record)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gru_attn.decode_cache", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="checkpoint written by `python -m gru_attn.train`")
    parser.add_argument("--out", required=True, help="cache folder")
    parser.add_argument("--val", action="store_true", help="the val split of the checkpoint's corpus")
    parser.add_argument("--crossgen", help="a gru_attn.crossgen set folder")
    parser.add_argument(
        "--devset",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a folder with wav/, notes/ (and clips.csv with a cond column); repeatable",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    args = parser.parse_args(argv)
    try:
        from gru_attn.devices import resolve_device

        device = resolve_device(args.device, option="--device")
        record = cache_sets(
            args.ckpt,
            Path(args.out),
            val=args.val,
            crossgen=args.crossgen,
            devsets=args.devset,
            device=device,
            progress=True,
        )
    except InputError as exc:
        print_error(exc)
        return 2
    sets = ", ".join(f"{k} ({v['songs']} songs)" for k, v in record["sets"].items())
    print(f"cached {sets} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
