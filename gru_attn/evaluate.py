"""CLI: a checkpoint + a labelled set -> note and frame metrics per song and on average.

    python -m gru_attn.evaluate --ckpt CHECKPOINT [--split test]           # the checkpoint's own corpus
    python -m gru_attn.evaluate --ckpt CHECKPOINT --corpus DIR [--split test|val|train|all]
    python -m gru_attn.evaluate --ckpt CHECKPOINT --wav-dir D --notes-dir N
    python -m gru_attn.evaluate --ckpt CHECKPOINT --feat-dir F --pitch-dir P --notes-dir N
        [--out DIR] [--device auto] [--segment-frames N] [--save-notes]
    python -m gru_attn.evaluate --est-dir E --notes-dir N        # any transcriber's note files, no model
    ... [--conditions clips.csv|none]                            # means per condition, then overall

Labelled sets:

- default: the corpus the checkpoint was trained on (its ``config.data.corpus``, e.g. the
  embedded synthetic corpus, regenerated if absent), split ``--split`` (default test);
- ``--corpus DIR``: a corpus folder ``DIR/{feat,pitch,notes}`` (+ ``DIR/splits.json``) as
  ``gru_attn.synth`` and ``gru_attn.preprocess`` write it;
- ``--feat-dir/--pitch-dir/--notes-dir``: VOCANO-layout features and pitch, every song;
- ``--wav-dir/--notes-dir``: audio files; features and pitch (the checkpoint's tracker)
  are computed from the audio, as ``transcribe`` does.

- ``--est-dir E --notes-dir N``: no checkpoint; scores the note files ``E/<song>.<ext>`` of
  any transcriber against ``N/<song>.<ext>`` (note metrics only). The songs are those of
  ``N``, or those of the conditions table when there is one; a song without an estimate
  or without a reference is an error. Estimates may overlap in time (a polyphonic
  transcriber's); references must not.

Reference notes: ``<notes-dir>/<song>.<ext>`` in any format ``notes.read_notes`` reads
(``.csv .json .txt .notes .mid .midi``). Frame targets come from the corpus labels, or
from the reference notes (``labels.notes_to_targets``).

Metrics (:mod:`gru_attn.metrics`): COnPOff / COnP / COn precision, recall and F1 with
mir_eval (onset 50 ms, pitch 50 cents, offset 20 % of the note or 50 ms), per song;
frame accuracy and F1 of the voiced / onset / offset decisions. The ``mean`` row holds
the macro mean over songs of the note metrics (the usual way to report them) and the
frame metrics over all frames pooled (as validation computes them).

Conditions: ``--conditions FILE.csv`` names each song's condition (a CSV with columns
``name`` and ``cond``, others ignored, as the dev sets' ``clips.csv``); without the
option, ``<notes-dir>/../clips.csv`` is used when it exists and has those columns
(``--conditions none``: never). Every song scored must have a row. The note metrics
are then also averaged per condition (macro mean over its songs), beside the overall mean.

With a model, the songs run side by side on CPU when they share out evenly, one per torch
thread (:func:`gru_attn.devices.parallel_songs`, as in ``transcribe``); the scores do not
depend on it, and the first bad song in the set's order ends the run with its error line.

Writes ``<out>/metrics.json`` (settings, mean, per condition, per song) and
``<out>/metrics.csv`` (one row per song, then with conditions one ``mean`` row per
condition, then the overall ``mean``); with ``--save-notes`` also ``<out>/notes/<song>.csv``.
Prints a table. Exit status 0, or 2 for a bad checkpoint, option or data set.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gru_attn import corpus
from gru_attn.audio import find_audio_files, load_audio
from gru_attn.checkpoint import default_checkpoint
from gru_attn.config import instantiate
from gru_attn.devices import parallel_songs, resolve_device, transcribed_in_turn
from gru_attn.errors import ArgumentParser, InputError, print_error, safe_streams
from gru_attn.files import check_out_folder, os_reason, write_json, write_text
from gru_attn.frames import HOP_SECONDS, SAMPLE_RATE
from gru_attn.inference import (
    ModelInfo,
    Transcription,
    add_inference_options,
    load_model,
    transcribe_audio,
    with_decoder,
    with_pitch_method,
)
from gru_attn.labels import notes_to_targets
from gru_attn.metrics import (
    NOTE_METRIC_KEYS,
    FrameMetricAccumulator,
    aggregate_note_metrics,
    frame_metrics,
    note_metrics,
)
from gru_attn.notes import NOTE_EXTENSIONS, NoteList, read_notes, write_notes
from gru_attn.pitch import MODEL_METHOD

FRAME_KEYS = (
    "voiced_acc",
    "onset_acc",
    "offset_acc",
    "voiced_f1",
    "onset_f1",
    "offset_f1",
    "onset_f1_tol1",
    "offset_f1_tol1",
)
CONDITIONS_FILE = "clips.csv"  # looked for beside the notes folder (``<notes-dir>/../clips.csv``)
TABLE = (
    ("COnPOff", "COnPOff_f1"),
    ("COnP", "COnP_f1"),
    ("COn", "COn_f1"),
    ("on F1", "onset_f1"),
    ("off F1", "offset_f1"),
    ("voi acc", "voiced_acc"),
)


def evaluate_notes(ref_by_song: dict[str, NoteList], est_by_song: dict[str, NoteList]) -> tuple[dict, dict]:
    """Note metrics of estimated against reference notes, per song and on average.

    Both dicts map song name -> :class:`NoteList` and must hold the same songs.
    Returns ``(per_song, mean)``: ``per_song[name]`` is :func:`gru_attn.metrics.note_metrics`
    (``COnPOff_f1``, ``COnP_precision``, ...), ``mean`` their macro mean over songs.
    """
    if set(ref_by_song) != set(est_by_song):
        missing = sorted(set(ref_by_song) ^ set(est_by_song))
        raise InputError(
            f"song {missing[0]!r} has notes on one side only (references and estimates must name the same songs)"
        )
    per_song = {name: note_metrics(ref_by_song[name], est_by_song[name]) for name in sorted(ref_by_song)}
    return per_song, aggregate_note_metrics(list(per_song.values()))


# --------------------------------------------------------------------------- conditions


def read_conditions(path) -> dict[str, str]:
    """``{song: condition}`` from a CSV with columns ``name`` and ``cond`` (others ignored), in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: conditions table not found")
    try:
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
        fields, rows = set(reader.fieldnames or ()), list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable conditions table ({exc})") from None
    if not {"name", "cond"} <= fields:
        raise InputError(f"{path}: expected a CSV with columns name and cond (and one row per song)")
    table = {}
    for line, row in enumerate(rows, start=2):
        name, cond = (row.get("name") or "").strip(), (row.get("cond") or "").strip()
        if not name or not cond:
            raise InputError(f"{path}: line {line}: empty name or cond")
        if name in table:
            raise InputError(f"{path}: line {line}: song {name!r} listed twice")
        table[name] = cond
    if not table:
        raise InputError(f"{path}: no rows (expected name,cond per song)")
    return table


def find_conditions(option: str | None, notes_dir: str | None) -> tuple[Path | None, dict[str, str] | None]:
    """(file, ``{song: condition}``) for ``--conditions``: the given file, ``none``, or
    ``<notes-dir>/../clips.csv`` when that exists and has the columns; (None, None) without one."""
    if option is not None:
        if option.lower() == "none":
            return None, None
        return Path(option), read_conditions(option)
    if notes_dir is None:
        return None, None
    auto = Path(notes_dir).resolve().parent / CONDITIONS_FILE
    if not auto.is_file():
        return None, None
    try:
        return auto, read_conditions(auto)
    except InputError:  # some other clips.csv: not a conditions table
        return None, None


def condition_means(per_song: dict[str, dict], conditions: dict[str, str], source="--conditions") -> dict:
    """``{condition: {"songs": n, **macro mean of the note metrics}}`` in table order, then ``all``
    (every song). ``per_song`` maps song -> :func:`gru_attn.metrics.note_metrics` (+ anything);
    InputError when a song has no condition."""
    missing = sorted(set(per_song) - set(conditions))
    if missing:
        raise InputError(
            f"{source}: no row for song {missing[0]!r} (name,cond per song; --conditions none "
            "to score without conditions)"
        )
    groups: dict[str, list[dict]] = {}
    for name, cond in conditions.items():
        if name in per_song:
            groups.setdefault(cond, []).append(per_song[name])
    groups["all"] = list(per_song.values())
    return {cond: {"songs": len(rows), **aggregate_note_metrics(rows)} for cond, rows in groups.items()}


# --------------------------------------------------------------------------- estimates from files


def note_files(folder: Path) -> dict[str, Path]:
    """``{song: file}`` of the note files (``notes.NOTE_EXTENSIONS``) in ``folder``; InputError for a
    missing folder or a song with several files."""
    if not folder.is_dir():
        raise InputError(f"{folder}: notes folder not found")
    extensions = {e.lower() for e in NOTE_EXTENSIONS}
    stems = sorted({p.stem for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions})
    return {stem: corpus.find_notes_file(folder, stem) for stem in stems}


def score_estimates(est_dir, notes_dir, names=None, progress: bool = False) -> dict:
    """Note metrics of the note files in ``est_dir`` against the references in ``notes_dir``.

    The songs are ``names`` (e.g. a conditions table's) or else every reference song;
    a song without an estimate or reference is an InputError, as is an estimate
    without a reference when ``names`` is None. Returns ``{"per_song": {song:
    {"ref_notes", "est_notes", **note metrics}}, "mean": {...}}``.
    """
    est_dir, notes_dir = Path(est_dir), Path(notes_dir)
    ests, refs = note_files(est_dir), note_files(notes_dir)
    if names is None:
        extra = sorted(set(ests) - set(refs))
        if extra:
            raise InputError(f"{ests[extra[0]]}: no reference notes for song {extra[0]!r} in {notes_dir}")
        names = sorted(refs)
    names = list(names)
    if not names:
        raise InputError(f"{notes_dir}: no reference note files ({', '.join(NOTE_EXTENSIONS)})")
    for name in names:
        if name not in refs:
            raise InputError(f"{notes_dir / name}.*: no reference notes for song {name!r}")
        if name not in ests:
            raise InputError(f"{est_dir / name}.*: no estimated notes for song {name!r}")
    ref_notes, est_notes = {}, {}
    for name in tqdm(names, desc="evaluate", unit="song", disable=not progress):
        ref_notes[name] = read_notes(refs[name])
        est_notes[name] = read_notes(ests[name], overlaps=True)  # a polyphonic transcriber's too
    note_rows, mean = evaluate_notes(ref_notes, est_notes)
    per_song = {
        name: {"ref_notes": len(ref_notes[name]), "est_notes": len(est_notes[name]), **note_rows[name]}
        for name in note_rows
    }
    return {"per_song": per_song, "mean": mean}


# --------------------------------------------------------------------------- labelled sets


def corpus_from_config(info: ModelInfo, split: str, with_wav_dir: bool = False):
    """Songs of ``split`` of the corpus the checkpoint was trained on: its ``config.data.corpus``, built
    by the same whitelisted instantiate as training (:func:`gru_attn.config.instantiate`). With
    ``with_wav_dir``: ``(songs, wav_dir)``, the folder of the songs' audio (None: none)."""
    spec = dict((info.config.get("data") or {}).get("corpus") or {})
    if not isinstance(spec.get("_target_"), str):
        raise InputError(
            f"{info.path}: the checkpoint names no corpus (data.corpus._target_ is missing); "
            "pass --corpus, --feat-dir/--pitch-dir/--notes-dir or --wav-dir/--notes-dir"
        )
    built = instantiate(f"{info.path}: data.corpus", {**spec, "splits": [split]})
    songs = built[split]
    if not songs:
        raise InputError(
            f"{info.path}: the checkpoint's corpus has no {split!r} songs; choose another --split "
            "or pass a labelled set"
        )
    return (songs, getattr(built, "wav_dir", None)) if with_wav_dir else songs


def corpus_folder(root: Path, split: str) -> list[corpus.Song]:
    """Songs of ``split`` (or every song for ``all``) of a corpus folder ``root/{feat,pitch,notes}``."""
    notes_dir = root / "notes" if (root / "notes").is_dir() else None
    if split == "all":
        return corpus.load_songs(root / "feat", root / "pitch", notes_dir)
    split_file = root / "splits.json"
    if not split_file.is_file():
        raise InputError(f"{split_file}: not found; a corpus folder without a split file needs --split all")
    songs = corpus.load_corpus(root / "feat", root / "pitch", notes_dir, split_file=split_file, splits=(split,))[split]
    if not songs:
        raise InputError(f"{split_file}: no {split!r} songs; choose another --split (or all)")
    return songs


MIDI_RANGE = (0.0, 127.0)  # a reference note's pitch must be a MIDI number in this range
END_TOLERANCE_S = 1.0  # a reference note may end this long after the song (rounding, trailing silence)


def check_reference_notes(notes: NoteList, duration_s: float, source) -> NoteList:
    """``notes`` when every one is a MIDI pitch in :data:`MIDI_RANGE` within the song's ``duration_s``
    (+ :data:`END_TOLERANCE_S`); else InputError naming ``source`` (the notes file) and the note."""
    low, high = MIDI_RANGE
    for i, (onset, offset, midi) in enumerate(zip(notes.onsets, notes.offsets, notes.midi), start=1):
        what = f"note {i} ({onset:.3f}-{offset:.3f} s, MIDI {midi:g})"
        if not low <= midi <= high:
            raise InputError(f"{source}: {what}: pitch outside MIDI {low:g}..{high:g}")
        if onset < 0 or offset > duration_s + END_TOLERANCE_S:
            raise InputError(f"{source}: {what}: outside the song, which lasts {duration_s:.2f} s")
    return notes


def _checked_songs(songs: list[corpus.Song], notes_dir) -> list[corpus.Song]:
    """``songs`` after :func:`check_reference_notes` (their notes files of ``notes_dir`` named in errors)."""
    for song in songs:
        if song.label_source == "notes":
            source = corpus.find_notes_file(notes_dir, song.name) if notes_dir else f"song {song.name!r}"
            check_reference_notes(song.notes, (song.n_frames + 1) * HOP_SECONDS, source)
    return songs


@dataclass(frozen=True)
class AudioSong:
    """A labelled audio file of ``--wav-dir``, read when its turn comes: ``path`` (audio), ``notes_file``."""

    path: Path
    notes_file: Path

    @property
    def name(self) -> str:
        return self.path.stem

    def read(self) -> tuple[np.ndarray, NoteList]:
        """(audio (n,) float32 at 16 kHz, reference notes checked against its duration); InputError if bad."""
        notes = read_notes(self.notes_file)
        audio = load_audio(self.path)
        return audio, check_reference_notes(notes, len(audio) / SAMPLE_RATE, self.notes_file)


def audio_songs(wav_dir: Path, notes_dir: Path) -> list[AudioSong]:
    """Every audio file of ``wav_dir`` with its notes file of ``notes_dir`` (InputError for one missing)."""
    return [AudioSong(path, corpus.find_notes_file(notes_dir, path.stem)) for path in find_audio_files(wav_dir)]


# --------------------------------------------------------------------------- evaluation


def evaluate(
    model,
    info: ModelInfo,
    songs,
    *,
    device="cpu",
    segment_frames: int | None = None,
    notes_out: Path | None = None,
    progress: bool = False,
) -> dict:
    """Transcribe and score ``songs``; returns ``{"per_song": {...}, "mean": {...}}``.

    ``songs`` holds :class:`gru_attn.corpus.Song` (features, pitch, targets, notes),
    :class:`AudioSong` (read in its turn) or ``(audio path, audio, reference notes)`` tuples
    (features and pitch computed from the audio; the song's name is the file stem). On CPU
    the songs run side by side when they share out evenly, as in ``transcribe``
    (:func:`gru_attn.devices.parallel_songs`); results do not depend on it, and the first bad
    song in the set's order raises its InputError. Each per-song entry holds ``ref_notes``, ``est_notes``, ``frames``, the note
    metrics and the frame metrics; ``mean`` is described in the module docstring.
    ``notes_out`` receives the estimated notes as ``<song>.csv``.
    """
    songs = list(songs)
    names = [_song_name(song) for song in songs]
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"song {name!r} appears twice in the labelled set")
        seen.add(name)

    def run(song) -> tuple[NoteList, Transcription, np.ndarray | None]:
        """(reference notes, transcription, given frame targets or None) of one song."""
        if isinstance(song, corpus.Song):
            pitch = None if info.pitch_method == MODEL_METHOD else song.pitch  # model: the network's own pitch
            result = transcribe_audio(
                model,
                info,
                feats=song.feats,
                pitch=pitch,
                source=song.name,
                device=device,
                segment_frames=segment_frames,
            )
            return song.notes, result, song.targets
        if isinstance(song, AudioSong):
            path, (audio, ref) = song.path, song.read()
        else:
            path, audio, ref = song
        return (
            ref,
            transcribe_audio(model, info, audio, source=path, device=device, segment_frames=segment_frames),
            None,
        )

    sizes = [_song_size(song) for song in songs]
    refs, ests, frame_rows, n_frames, counts = {}, {}, {}, {}, FrameMetricAccumulator()
    results = transcribed_in_turn(run, songs, sizes, parallel_songs(sizes, device))
    with closing(results):
        for name, (ref, result, targets) in tqdm(
            zip(names, results), total=len(songs), desc="evaluate", unit="song", disable=not progress
        ):
            targets = _targets(result, ref, targets)
            refs[name], ests[name] = ref, result.notes
            frame_rows[name] = frame_metrics(result.probs, targets)
            n_frames[name] = len(targets)
            counts.update(result.probs, targets)
            if notes_out is not None:
                write_notes(result.notes, notes_out / f"{name}.csv", columns=("onset", "offset", "midi", "hz"))
    if not refs:
        raise InputError("the labelled set holds no songs")
    note_rows, mean = evaluate_notes(refs, ests)
    per_song = {
        name: {
            "ref_notes": len(refs[name]),
            "est_notes": len(ests[name]),
            "frames": n_frames[name],
            **note_rows[name],
            **frame_rows[name],
        }
        for name in note_rows
    }
    return {"per_song": per_song, "mean": {**mean, **counts.compute()}}


def _song_name(song) -> str:
    return song.name if isinstance(song, (corpus.Song, AudioSong)) else Path(song[0]).stem


def _song_size(song) -> int:
    """A song's share of the work: frames, audio samples or file bytes (:func:`gru_attn.devices.parallel_songs`)."""
    if isinstance(song, corpus.Song):
        return song.n_frames
    if isinstance(song, AudioSong):
        return song.path.stat().st_size if song.path.is_file() else 0
    return len(song[1])


def _targets(result: Transcription, ref: NoteList, targets: np.ndarray | None) -> np.ndarray:
    """The song's (T, 3) frame targets on the transcription's grid: given ones (trimmed) or from ``ref``."""
    n = len(result.probs)
    if targets is None:
        return notes_to_targets(ref.onsets, ref.offsets, n)
    return targets[:n]


# --------------------------------------------------------------------------- reports


def format_table(results: dict) -> str:
    """Per-song F1 / accuracy table (one row per song, then ``mean``), plus P / R / F1 of the mean.

    Frame columns appear only when the results hold them (not for ``--est-dir``)."""
    mean = results["mean"]
    table = [(label, key) for label, key in TABLE if key in mean]
    header = f"{'song':<24} {'ref':>5} {'est':>5} " + " ".join(f"{label:>8}" for label, _ in table)
    rows = [header, "-" * len(header)]
    for name, row in results["per_song"].items():
        rows.append(
            f"{name[:24]:<24} {row['ref_notes']:>5} {row['est_notes']:>5} "
            + " ".join(f"{row[key]:>8.3f}" for _, key in table)
        )
    n_ref = sum(r["ref_notes"] for r in results["per_song"].values())
    n_est = sum(r["est_notes"] for r in results["per_song"].values())
    rows += [
        "-" * len(header),
        f"{'mean':<24} {n_ref:>5} {n_est:>5} " + " ".join(f"{mean[key]:>8.3f}" for _, key in table),
        "",
        f"{'mean over ' + str(len(results['per_song'])) + ' songs':<24} {'P':>8} {'R':>8} {'F1':>8}",
    ]
    for metric in ("COnPOff", "COnP", "COn"):
        rows.append(
            f"{metric:<24} " + " ".join(f"{mean[f'{metric}_{s}']:>8.3f}" for s in ("precision", "recall", "f1"))
        )
    return "\n".join(rows)


def format_conditions(by_condition: dict) -> str:
    """F1 (and COnP P / R) per condition, then ``all``: the macro means of :func:`condition_means`."""
    header = f"{'condition':<16} {'songs':>5} {'COnPOff':>8} {'COnP':>8} {'COn':>8} {'COnP P':>8} {'COnP R':>8}"
    rows = [header, "-" * len(header)]
    for cond, m in by_condition.items():
        if cond == "all":
            rows.append("-" * len(header))
        rows.append(
            f"{cond[:16]:<16} {m['songs']:>5} {m['COnPOff_f1']:>8.3f} {m['COnP_f1']:>8.3f} {m['COn_f1']:>8.3f} "
            f"{m['COnP_precision']:>8.3f} {m['COnP_recall']:>8.3f}"
        )
    return "\n".join(rows)


def write_csv(results: dict, path: Path) -> None:
    """One row per song then ``mean``: song, ref_notes, est_notes, frames, note metrics, frame metrics.

    With ``results["conditions"]`` a ``condition`` column follows ``song``, and one ``mean``
    row per condition comes before the overall ``mean`` (condition ``all``)."""
    by_condition = results.get("conditions")
    columns = [
        "song",
        *(["condition"] if by_condition else []),
        "ref_notes",
        "est_notes",
        "frames",
        *NOTE_METRIC_KEYS,
        *FRAME_KEYS,
    ]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for name, row in results["per_song"].items():
        writer.writerow({"song": name, **_rounded(row)})
    per_song = results["per_song"].values()
    counts = [k for k in ("ref_notes", "est_notes", "frames") if all(k in r for r in per_song)]
    if by_condition:
        for cond, m in by_condition.items():
            if cond != "all":
                rows = [r for r in per_song if r.get("condition") == cond]
                writer.writerow(
                    {
                        "song": "mean",
                        "condition": cond,
                        **{k: sum(r[k] for r in rows) for k in counts},
                        **_rounded({k: v for k, v in m.items() if k != "songs"}),
                    }
                )
    writer.writerow(
        {
            "song": "mean",
            **({"condition": "all"} if by_condition else {}),
            **{k: sum(r[k] for r in per_song) for k in counts},
            **_rounded(results["mean"]),
        }
    )
    write_text(path, buf.getvalue())


def _rounded(row: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m gru_attn.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ckpt",
        help="checkpoint written by `python -m gru_attn.train` (default: the model "
        "shipped with the package, gru_attn/weights/default.pt; or --est-dir)",
    )
    parser.add_argument(
        "--est-dir",
        help="score these note files <song>.<ext> (any transcriber's) against --notes-dir instead of a checkpoint",
    )
    parser.add_argument("--corpus", help="corpus folder with feat/, pitch/, notes/ (and splits.json)")
    parser.add_argument(
        "--split",
        default="test",
        choices=(*corpus.SPLIT_NAMES, "all"),
        help="split of the checkpoint's corpus or of --corpus (default: test; all = every song of --corpus)",
    )
    parser.add_argument("--wav-dir", help="folder of audio files (features and pitch computed from the audio)")
    parser.add_argument("--feat-dir", help="folder of VOCANO-layout <song>_feat.npy files")
    parser.add_argument("--pitch-dir", help="folder of <song>_pitch.npy files (with --feat-dir)")
    parser.add_argument(
        "--notes-dir", help="folder of reference notes <song>.<ext> (with --wav-dir, --feat-dir or --est-dir)"
    )
    parser.add_argument(
        "--conditions",
        help="CSV with columns name,cond: also report means per condition "
        f"(default: <notes-dir>/../{CONDITIONS_FILE} when present; none: never)",
    )
    parser.add_argument("--out", default="eval", help="output folder for metrics.json / metrics.csv (default: eval)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    add_inference_options(parser, pitch_help=" (corpus and feature inputs use their pitch files)")
    parser.add_argument("--save-notes", action="store_true", help="also write <out>/notes/<song>.csv")
    return parser.parse_args(argv)


def labelled_set(args: argparse.Namespace, info: ModelInfo) -> tuple[str, object]:
    """(description, songs) of the labelled set the options select; InputError for bad combinations."""
    modes = [
        m
        for m, given in (("--corpus", args.corpus), ("--wav-dir", args.wav_dir), ("--feat-dir", args.feat_dir))
        if given
    ]
    if len(modes) > 1:
        raise InputError(f"{' and '.join(modes)}: give only one labelled set")
    if (args.wav_dir or args.feat_dir) and not args.notes_dir:
        raise InputError(f"{modes[0]} needs --notes-dir (the reference notes)")
    if args.feat_dir and not args.pitch_dir:
        raise InputError("--feat-dir needs --pitch-dir")
    if args.wav_dir:
        return f"audio in {args.wav_dir}", audio_songs(Path(args.wav_dir), Path(args.notes_dir))
    if args.feat_dir:
        return (
            f"features in {args.feat_dir}",
            _checked_songs(
                corpus.load_songs(args.feat_dir, args.pitch_dir, args.notes_dir, progress=True), args.notes_dir
            ),
        )
    if args.corpus:
        notes_dir = Path(args.corpus) / "notes"
        return (
            f"{args.split} split of {args.corpus}",
            _checked_songs(corpus_folder(Path(args.corpus), args.split), notes_dir if notes_dir.is_dir() else None),
        )
    if args.split == "all":
        raise InputError("--split all needs --corpus")
    return f"{args.split} split of the checkpoint's corpus", corpus_from_config(info, args.split)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad checkpoint, option or data)."""
    safe_streams()
    args = parse_args(argv)
    out = Path(args.out)
    info = None
    try:
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: is a file, expected a folder")
        if args.est_dir:
            others = [
                o
                for o, given in (
                    ("--ckpt", args.ckpt),
                    ("--corpus", args.corpus),
                    ("--wav-dir", args.wav_dir),
                    ("--feat-dir", args.feat_dir),
                    ("--save-notes", args.save_notes),
                )
                if given
            ]
            if others:
                raise InputError(f"--est-dir and {others[0]}: --est-dir scores note files, without a model")
            if not args.notes_dir:
                raise InputError("--est-dir needs --notes-dir (the reference notes)")
            conditions_file, conditions = find_conditions(args.conditions, args.notes_dir)
            description = f"note files in {args.est_dir}"
            results = score_estimates(
                args.est_dir,
                args.notes_dir,
                names=list(conditions) if conditions else None,
                progress=sys.stderr.isatty(),
            )
        else:
            if args.segment_frames is not None and args.segment_frames < 1:
                raise InputError(f"--segment-frames {args.segment_frames}: expected a positive number of frames")
            conditions_file, conditions = find_conditions(args.conditions, args.notes_dir)
            device = resolve_device(args.device, option="--device")
            model, info = load_model(default_checkpoint(args.ckpt), device)
            info = with_decoder(with_pitch_method(model, info, args.pitch_method), args.decode)
            description, songs = labelled_set(args, info)
            results = evaluate(
                model,
                info,
                songs,
                device=device,
                segment_frames=args.segment_frames,
                notes_out=out / "notes" if args.save_notes else None,
                progress=sys.stderr.isatty(),
            )
        if conditions:
            results["conditions"] = condition_means(results["per_song"], conditions, source=str(conditions_file))
            for name, row in results["per_song"].items():
                row["condition"] = conditions[name]
    except InputError as exc:
        print_error(exc)
        return 2
    except OSError as exc:  # e.g. an unwritable --out with --save-notes
        print_error(f"{exc.filename or out}: {os_reason(exc)}")
        return 2
    if info is not None:
        settings = {
            "checkpoint": str(info.path),
            "epoch": info.epoch,
            "labelled_set": description,
            "songs": len(results["per_song"]),
            "decode": info.decode.as_dict(),
            "pitch_method": info.pitch_method,
        }
    else:
        settings = {
            "checkpoint": None,
            "estimates": str(args.est_dir),
            "references": str(args.notes_dir),
            "labelled_set": description,
            "songs": len(results["per_song"]),
        }
    if conditions:
        settings.update(conditions_file=str(conditions_file), conditions=results["conditions"])
    try:
        check_out_folder(out)
        write_json(out / "metrics.json", {**settings, "mean": results["mean"], "per_song": results["per_song"]})
        write_csv(results, out / "metrics.csv")
    except InputError as exc:
        print_error(exc)
        return 2
    except OSError as exc:
        print_error(f"{exc.filename or out}: {os_reason(exc)}")
        return 2
    if info is not None:
        print(f"{info.path} on the {description}: {len(results['per_song'])} song(s)")
    else:
        print(f"{description} against {args.notes_dir}: {len(results['per_song'])} song(s)")
    print(format_table(results))
    if conditions:
        print(f"\nmean per condition ({conditions_file}), F1 unless marked:")
        print(format_conditions(results["conditions"]))
    print(f"wrote {out / 'metrics.json'} and {out / 'metrics.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
