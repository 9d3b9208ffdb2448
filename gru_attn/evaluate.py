"""CLI: a checkpoint + a labelled set -> note and frame metrics per song and on average.

    python -m gru_attn.evaluate --ckpt CHECKPOINT [--split test]           # the checkpoint's own corpus
    python -m gru_attn.evaluate --ckpt CHECKPOINT --corpus DIR [--split test|val|train|all]
    python -m gru_attn.evaluate --ckpt CHECKPOINT --wav-dir D --notes-dir N
    python -m gru_attn.evaluate --ckpt CHECKPOINT --feat-dir F --pitch-dir P --notes-dir N
        [--out DIR] [--device auto] [--segment-frames N] [--save-notes]

Labelled sets:

- default: the corpus the checkpoint was trained on (its ``config.data.corpus``, e.g. the
  embedded synthetic corpus, regenerated if absent), split ``--split`` (default test);
- ``--corpus DIR``: a corpus folder ``DIR/{feat,pitch,notes}`` (+ ``DIR/splits.json``) as
  ``gru_attn.synth`` and ``gru_attn.preprocess`` write it;
- ``--feat-dir/--pitch-dir/--notes-dir``: VOCANO-layout features and pitch, every song;
- ``--wav-dir/--notes-dir``: audio files; features and pitch (the checkpoint's tracker)
  are computed from the audio, as ``transcribe`` does.

Reference notes: ``<notes-dir>/<song>.<ext>`` in any format ``notes.read_notes`` reads
(``.csv .json .txt .notes .mid .midi``). Frame targets come from the corpus labels, or
from the reference notes (``labels.notes_to_targets``).

Metrics (:mod:`gru_attn.metrics`): COnPOff / COnP / COn precision, recall and F1 with
mir_eval (onset 50 ms, pitch 50 cents, offset 20 % of the note or 50 ms), per song;
frame accuracy and F1 of the voiced / onset / offset decisions. The ``mean`` row holds
the macro mean over songs of the note metrics (the usual way to report them) and the
frame metrics over all frames pooled (as validation computes them).

Writes ``<out>/metrics.json`` (settings, mean, per song) and ``<out>/metrics.csv`` (one
row per song, then ``mean``); with ``--save-notes`` also ``<out>/notes/<song>.csv``.
Prints a table. Exit status 0, or 2 for a bad checkpoint, option or data set.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gru_attn import corpus
from gru_attn.audio import find_audio_files, load_audio
from gru_attn.devices import resolve_device
from gru_attn.errors import InputError
from gru_attn.files import write_json, write_text
from gru_attn.inference import (ModelInfo, Transcription, load_model, transcribe_audio, with_decoder,
                                with_pitch_method)
from gru_attn.labels import notes_to_targets
from gru_attn.pitch import INFERENCE_METHODS, MODEL_METHOD
from gru_attn.metrics import NOTE_METRIC_KEYS, FrameMetricAccumulator, aggregate_note_metrics, frame_metrics, note_metrics
from gru_attn.notes import NoteList, read_notes, write_notes

# corpus loaders a checkpoint's ``config.data.corpus`` may name (nothing else is called)
CORPUS_LOADERS = {
    "gru_attn.corpus.load_synthetic_corpus": corpus.load_synthetic_corpus,
    "gru_attn.corpus.load_corpus": corpus.load_corpus,
}
FRAME_KEYS = ("voiced_acc", "onset_acc", "offset_acc", "voiced_f1", "onset_f1", "offset_f1",
              "onset_f1_tol1", "offset_f1_tol1")
TABLE = (("COnPOff", "COnPOff_f1"), ("COnP", "COnP_f1"), ("COn", "COn_f1"), ("on F1", "onset_f1"),
         ("off F1", "offset_f1"), ("voi acc", "voiced_acc"))


def evaluate_notes(ref_by_song: dict[str, NoteList], est_by_song: dict[str, NoteList]) -> tuple[dict, dict]:
    """Note metrics of estimated against reference notes, per song and on average.

    Both dicts map song name -> :class:`NoteList` and must hold the same songs.
    Returns ``(per_song, mean)``: ``per_song[name]`` is :func:`gru_attn.metrics.note_metrics`
    (``COnPOff_f1``, ``COnP_precision``, ...), ``mean`` their macro mean over songs.
    """
    if set(ref_by_song) != set(est_by_song):
        missing = sorted(set(ref_by_song) ^ set(est_by_song))
        raise InputError(f"song {missing[0]!r} has notes on one side only (references and estimates must "
                         "name the same songs)")
    per_song = {name: note_metrics(ref_by_song[name], est_by_song[name]) for name in sorted(ref_by_song)}
    return per_song, aggregate_note_metrics(list(per_song.values()))


# --------------------------------------------------------------------------- labelled sets


def corpus_from_config(info: ModelInfo, split: str) -> list[corpus.Song]:
    """Songs of ``split`` of the corpus the checkpoint was trained on (its ``config.data.corpus``)."""
    spec = dict((info.config.get("data") or {}).get("corpus") or {})
    target = spec.pop("_target_", None)
    if target not in CORPUS_LOADERS:
        raise InputError(f"{info.path}: the checkpoint names no known corpus (data.corpus._target_={target!r}); "
                         "pass --corpus, --feat-dir/--pitch-dir/--notes-dir or --wav-dir/--notes-dir")
    songs = CORPUS_LOADERS[target](**spec, splits=(split,))[split]
    if not songs:
        raise InputError(f"{info.path}: the checkpoint's corpus has no {split!r} songs; choose another --split "
                         "or pass a labelled set")
    return songs


def corpus_folder(root: Path, split: str) -> list[corpus.Song]:
    """Songs of ``split`` (or every song for ``all``) of a corpus folder ``root/{feat,pitch,notes}``."""
    notes_dir = root / "notes" if (root / "notes").is_dir() else None
    if split == "all":
        return corpus.load_songs(root / "feat", root / "pitch", notes_dir)
    split_file = root / "splits.json"
    if not split_file.is_file():
        raise InputError(f"{split_file}: not found; a corpus folder without a split file needs --split all")
    songs = corpus.load_corpus(root / "feat", root / "pitch", notes_dir, split_file=split_file,
                               splits=(split,))[split]
    if not songs:
        raise InputError(f"{split_file}: no {split!r} songs; choose another --split (or all)")
    return songs


def audio_songs(wav_dir: Path, notes_dir: Path) -> Iterator[tuple[Path, np.ndarray, NoteList]]:
    """(audio path, audio, reference notes) of every audio file of ``wav_dir``, read one at a time."""
    for path in find_audio_files(wav_dir):
        notes = read_notes(corpus.find_notes_file(notes_dir, path.stem))
        yield path, load_audio(path), notes


# --------------------------------------------------------------------------- evaluation


def evaluate(model, info: ModelInfo, songs, *, device="cpu", segment_frames: int | None = None,
             notes_out: Path | None = None, progress: bool = False) -> dict:
    """Transcribe and score ``songs``; returns ``{"per_song": {...}, "mean": {...}}``.

    ``songs`` yields :class:`gru_attn.corpus.Song` (features, pitch, targets, notes) or
    ``(audio path, audio, reference notes)`` tuples (features and pitch computed from the
    audio; the song's name is the file stem). Each per-song entry holds ``ref_notes``, ``est_notes``, ``frames``, the note
    metrics and the frame metrics; ``mean`` is described in the module docstring.
    ``notes_out`` receives the estimated notes as ``<song>.csv``.
    """
    refs, ests, frame_rows, n_frames, counts = {}, {}, {}, {}, FrameMetricAccumulator()
    for song in tqdm(songs, desc="evaluate", unit="song", disable=not progress):
        name = song.name if isinstance(song, corpus.Song) else song[0].stem
        if name in refs:
            raise InputError(f"song {name!r} appears twice in the labelled set")
        if isinstance(song, corpus.Song):
            ref, targets = song.notes, song.targets
            pitch = None if info.pitch_method == MODEL_METHOD else song.pitch  # model: the network's own pitch
            result = transcribe_audio(model, info, feats=song.feats, pitch=pitch, source=name,
                                      device=device, segment_frames=segment_frames)
        else:
            path, audio, ref = song
            result = transcribe_audio(model, info, audio, source=path, device=device, segment_frames=segment_frames)
            targets = None
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
    per_song = {name: {"ref_notes": len(refs[name]), "est_notes": len(ests[name]), "frames": n_frames[name],
                       **note_rows[name], **frame_rows[name]} for name in note_rows}
    return {"per_song": per_song, "mean": {**mean, **counts.compute()}}


def _targets(result: Transcription, ref: NoteList, targets: np.ndarray | None) -> np.ndarray:
    """The song's (T, 3) frame targets on the transcription's grid: given ones (trimmed) or from ``ref``."""
    n = len(result.probs)
    if targets is None:
        return notes_to_targets(ref.onsets, ref.offsets, n)
    return targets[:n]


# --------------------------------------------------------------------------- reports


def format_table(results: dict) -> str:
    """Per-song F1 / accuracy table (one row per song, then ``mean``), plus P / R / F1 of the mean."""
    header = f"{'song':<24} {'ref':>5} {'est':>5} " + " ".join(f"{label:>8}" for label, _ in TABLE)
    rows = [header, "-" * len(header)]
    for name, row in results["per_song"].items():
        rows.append(f"{name[:24]:<24} {row['ref_notes']:>5} {row['est_notes']:>5} "
                    + " ".join(f"{row[key]:>8.3f}" for _, key in TABLE))
    mean = results["mean"]
    n_ref = sum(r["ref_notes"] for r in results["per_song"].values())
    n_est = sum(r["est_notes"] for r in results["per_song"].values())
    rows += ["-" * len(header), f"{'mean':<24} {n_ref:>5} {n_est:>5} " + " ".join(f"{mean[key]:>8.3f}" for _, key in TABLE),
             "", f"{'mean over ' + str(len(results['per_song'])) + ' songs':<24} {'P':>8} {'R':>8} {'F1':>8}"]
    for metric in ("COnPOff", "COnP", "COn"):
        rows.append(f"{metric:<24} " + " ".join(f"{mean[f'{metric}_{s}']:>8.3f}" for s in ("precision", "recall", "f1")))
    return "\n".join(rows)


def write_csv(results: dict, path: Path) -> None:
    """One row per song then ``mean``: song, ref_notes, est_notes, frames, note metrics, frame metrics."""
    columns = ["song", "ref_notes", "est_notes", "frames", *NOTE_METRIC_KEYS, *FRAME_KEYS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for name, row in results["per_song"].items():
        writer.writerow({"song": name, **_rounded(row)})
    per_song = results["per_song"].values()
    writer.writerow({"song": "mean", **{k: sum(r[k] for r in per_song) for k in ("ref_notes", "est_notes", "frames")},
                     **_rounded(results["mean"])})
    write_text(path, buf.getvalue())


def _rounded(row: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gru_attn.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="checkpoint written by `python -m gru_attn.train`")
    parser.add_argument("--corpus", help="corpus folder with feat/, pitch/, notes/ (and splits.json)")
    parser.add_argument("--split", default="test", choices=(*corpus.SPLIT_NAMES, "all"),
                        help="split of the checkpoint's corpus or of --corpus (default: test; all = every song "
                             "of --corpus)")
    parser.add_argument("--wav-dir", help="folder of audio files (features and pitch computed from the audio)")
    parser.add_argument("--feat-dir", help="folder of VOCANO-layout <song>_feat.npy files")
    parser.add_argument("--pitch-dir", help="folder of <song>_pitch.npy files (with --feat-dir)")
    parser.add_argument("--notes-dir", help="folder of reference notes <song>.<ext> (with --wav-dir or --feat-dir)")
    parser.add_argument("--out", default="eval", help="output folder for metrics.json / metrics.csv (default: eval)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--pitch-method", choices=INFERENCE_METHODS, default=None,
                        help="where note pitches come from (default: the checkpoint's); 'model' = the network's "
                             "pitch head, otherwise a tracker on the audio (corpus/feature inputs use their pitch files)")
    parser.add_argument("--decode", default=None, metavar="NAME|YAML",
                        help="note decoder: a name of conf/decode (segments, peaks) or a YAML file with _target_ "
                             "(default: the checkpoint's)")
    parser.add_argument("--segment-frames", type=int, default=None,
                        help="frames per inference segment (default: 256 on CPU, 1024 on CUDA)")
    parser.add_argument("--save-notes", action="store_true", help="also write <out>/notes/<song>.csv")
    return parser.parse_args(argv)


def labelled_set(args: argparse.Namespace, info: ModelInfo) -> tuple[str, object]:
    """(description, songs) of the labelled set the options select; InputError for bad combinations."""
    modes = [m for m, given in (("--corpus", args.corpus), ("--wav-dir", args.wav_dir),
                                ("--feat-dir", args.feat_dir)) if given]
    if len(modes) > 1:
        raise InputError(f"{' and '.join(modes)}: give only one labelled set")
    if (args.wav_dir or args.feat_dir) and not args.notes_dir:
        raise InputError(f"{modes[0]} needs --notes-dir (the reference notes)")
    if args.feat_dir and not args.pitch_dir:
        raise InputError("--feat-dir needs --pitch-dir")
    if args.wav_dir:
        return f"audio in {args.wav_dir}", audio_songs(Path(args.wav_dir), Path(args.notes_dir))
    if args.feat_dir:
        return (f"features in {args.feat_dir}",
                corpus.load_songs(args.feat_dir, args.pitch_dir, args.notes_dir, progress=True))
    if args.corpus:
        return f"{args.split} split of {args.corpus}", corpus_folder(Path(args.corpus), args.split)
    if args.split == "all":
        raise InputError("--split all needs --corpus")
    return f"{args.split} split of the checkpoint's corpus", corpus_from_config(info, args.split)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad checkpoint, option or data)."""
    args = parse_args(argv)
    out = Path(args.out)
    try:
        if args.segment_frames is not None and args.segment_frames < 1:
            raise InputError(f"--segment-frames {args.segment_frames}: expected a positive number of frames")
        device = resolve_device(args.device, option="--device")
        model, info = load_model(args.ckpt, device)
        info = with_decoder(with_pitch_method(model, info, args.pitch_method), args.decode)
        description, songs = labelled_set(args, info)
        results = evaluate(model, info, songs, device=device, segment_frames=args.segment_frames,
                           notes_out=out / "notes" if args.save_notes else None, progress=sys.stderr.isatty())
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an unwritable --out with --save-notes
        print(f"error: {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json",
                   {"checkpoint": str(info.path), "epoch": info.epoch, "labelled_set": description,
                    "songs": len(results["per_song"]), "decode": info.decode.as_dict(),
                    "pitch_method": info.pitch_method, "mean": results["mean"], "per_song": results["per_song"]})
        write_csv(results, out / "metrics.csv")
    except OSError as exc:
        print(f"error: {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{info.path} on the {description}: {len(results['per_song'])} song(s)")
    print(format_table(results))
    print(f"wrote {out / 'metrics.json'} and {out / 'metrics.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
