"""CLI: sung audio + a checkpoint -> notes as MIDI, CSV, text or JSON (optionally a rendered WAV and a plot).

    python -m gru_attn.transcribe <audio file or folder> --ckpt CHECKPOINT [--out DIR] [--name NAME]
        [--formats mid,csv,txt,json] [--tempo BPM] [--glob PATTERN] [--overwrite]
        [--device auto|cpu|cuda] [--synth] [--plot] [--segment-frames N]
    python -m gru_attn.transcribe [<audio file>] --ckpt CHECKPOINT --feat F_feat.npy [--pitch P_pitch.npy]

For every input (a file, or the files of a folder in sorted order: ``--glob PATTERN``,
relative to the folder and ``**`` for subfolders, by default its ``.wav|.flac|.ogg``
files, not recursively) writes into ``--out`` (default: the current folder), under
``--name`` when given (a single input only), one file per format of ``--formats``
(default ``mid,csv``):

- ``mid``: ``<name>.mid``, the notes as one piano track at ``--tempo`` bpm (default
  120; times in seconds within 0.3 ms at any tempo; pitch rounded to the nearest MIDI
  number);
- ``csv``: ``<name>.csv``, ``onset,offset,midi,hz,confidence`` (seconds, fractional
  MIDI, Hz, 0..1: see :func:`note_confidence`);
- ``txt``: ``<name>.txt``, ``onset offset midi`` a line (MIR-ST500 / VOCANO text);
- ``json``: ``<name>.json``, MIR-ST500 style ``{"<name>": [[onset, offset, midi], ...]}``;
- with ``--synth``, ``<name>.synth.wav``: the notes rendered as harmonic tones (16 kHz, :mod:`gru_attn.sonify`);
- with ``--plot``, ``<name>.png``: the notes over the pitch contour, with the voiced /
  onset / offset probabilities beneath.

Existing outputs are kept: a song with any of its outputs already there is skipped
with ``error: <file>: exists (use --overwrite)``. A song's outputs are written
together: all of them or, on an error, none.

The checkpoint carries everything else: model, feature layout, decoding thresholds
and the pitch tracker. ``--feat`` / ``--pitch`` reuse VOCANO-layout files (as written by
``python -m gru_attn.preprocess``) instead of computing features / pitch from audio;
with both, no audio is needed.

On CPU a folder's songs run side by side, one song per torch thread on one core each,
when they share out evenly (:func:`gru_attn.devices.parallel_songs`); otherwise one song at a time on all
cores. The outputs do not depend on it; lines still come in the files' order.

One summary line per file (notes, duration, real-time factor: with songs side by side,
one core's). A bad input (or a song
whose outputs exist) prints ``error: <file>: <reason>`` and the other files are still
transcribed; the exit status is then 1. A bad checkpoint, a missing input or a bad
option exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack, closing
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gru_attn.audio import find_audio_files, load_audio
from gru_attn.checkpoint import default_checkpoint
from gru_attn.devices import parallel_songs, resolve_device, transcribed_in_turn
from gru_attn.errors import ArgumentParser, InputError, print_error, safe_streams
from gru_attn.features import FEAT_SUFFIX
from gru_attn.files import atomic_path, os_reason
from gru_attn.frames import time_to_frame
from gru_attn.inference import (
    ModelInfo,
    Transcription,
    add_inference_options,
    features_from_file,
    load_model,
    pitch_from_file,
    transcribe_audio,
    with_decoder,
    with_pitch_method,
)
from gru_attn.notes import MIDI_TEMPO, MIDI_TEMPO_RANGE, NoteList, write_notes
from gru_attn.plots import plot_transcription
from gru_attn.sonify import render_notes, write_wav

FORMATS = {"mid": ".mid", "csv": ".csv", "txt": ".txt", "json": ".json"}  # --formats -> file extension
DEFAULT_FORMATS = ("mid", "csv")
CSV_OUTPUT_COLUMNS = ("onset", "offset", "midi", "hz", "confidence")
ONSET_PEAK_FRAMES = 1  # the onset probability's peak is looked for this many frames either side


def note_confidence(notes: NoteList, probs: np.ndarray) -> np.ndarray:
    """(n,) confidence in 0..1 of each note, from the (T, 3) voiced/onset/offset probabilities.

    The mean voiced probability over the note's frames times the highest onset
    probability within ``ONSET_PEAK_FRAMES`` frames of its onset frame: near 1 for a
    clearly voiced note with a sharp onset, low for a weakly voiced note or a doubtful onset.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if not len(notes) or not len(probs):
        return np.zeros(len(notes))
    starts = np.clip(time_to_frame(notes.onsets), 0, len(probs) - 1)
    stops = np.clip(time_to_frame(notes.offsets), starts + 1, len(probs))
    out = [
        probs[a:e, 0].mean() * probs[max(a - ONSET_PEAK_FRAMES, 0) : a + ONSET_PEAK_FRAMES + 1, 1].max()
        for a, e in zip(starts, stops)
    ]
    return np.clip(np.asarray(out), 0.0, 1.0)


def output_paths(
    name: str, out_dir: Path, formats=DEFAULT_FORMATS, synth: bool = False, plot: bool = False
) -> dict[str, Path]:
    """``{output kind: path}`` of one song: the ``formats`` (keys of ``FORMATS``), then ``synth`` / ``plot``."""
    paths = {fmt: out_dir / f"{name}{FORMATS[fmt]}" for fmt in formats}
    if synth:
        paths["synth"] = out_dir / f"{name}.synth.wav"
    if plot:
        paths["plot"] = out_dir / f"{name}.png"
    return paths


def write_outputs(
    name: str,
    result: Transcription,
    info: ModelInfo,
    out_dir: Path,
    formats=DEFAULT_FORMATS,
    tempo: float = MIDI_TEMPO,
    synth: bool = False,
    plot: bool = False,
) -> list[Path]:
    """Write the outputs of :func:`output_paths` (all, or none when one fails); returns their paths.

    Each is first written to a temporary sibling; they replace their targets only once
    every one is written.
    """
    paths = output_paths(name, out_dir, formats, synth, plot)
    notes = result.notes
    with ExitStack() as stack:
        tmp = {kind: stack.enter_context(atomic_path(path)) for kind, path in paths.items()}
        for kind, path in tmp.items():
            if kind == "mid":
                write_notes(notes, path, fmt="midi", tempo=tempo)
            elif kind == "csv":
                write_notes(notes, path, columns=CSV_OUTPUT_COLUMNS, confidence=note_confidence(notes, result.probs))
            elif kind in ("txt", "json"):
                write_notes(notes, path, fmt=kind, song=name)
            elif kind == "synth":
                write_wav(render_notes(notes, result.duration_s), path)
            else:
                d = info.decode
                plot_transcription(
                    path,
                    notes,
                    result.pitch,
                    result.probs,
                    thresholds=tuple(getattr(d, f"{k}_threshold", 0.5) for k in ("voiced", "onset", "offset")),
                    title=f"{name} ({info.path.name})",
                )
    return list(paths.values())


def summary_line(name: str, result: Transcription) -> str:
    """``<name>: N notes, D s of audio, RTF r (features a s, pitch b s, model c s, decode d s)``."""
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    return f"{name}: {len(result.notes)} notes, {result.duration_s:.1f} s of audio, RTF {result.rtf:.3f} ({stages})"


def transcribe_file(
    path: Path | None,
    model,
    info: ModelInfo,
    device,
    feat: Path | None = None,
    pitch: Path | None = None,
    segment_frames: int | None = None,
) -> Transcription:
    """Transcribe audio file ``path`` (None when ``feat`` and ``pitch`` are both given)."""
    audio = load_audio(path) if path is not None else None
    feats = features_from_file(feat) if feat is not None else None
    contour = pitch_from_file(pitch) if pitch is not None else None
    source = path if path is not None else feat
    return transcribe_audio(
        model,
        info,
        audio,
        feats=feats,
        pitch=contour,
        source=source,
        device=device,
        segment_frames=segment_frames,
        feat_source=feat,
        pitch_source=pitch,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m gru_attn.transcribe", description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", help="audio file (.wav/.flac/.ogg) or folder of audio files")
    parser.add_argument(
        "--formats",
        default=",".join(DEFAULT_FORMATS),
        help=f"comma-separated output formats out of {', '.join(FORMATS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--tempo",
        type=float,
        default=MIDI_TEMPO,
        help="tempo in bpm written into the MIDI file; note times stay in seconds (default: 120)",
    )
    parser.add_argument(
        "--glob",
        help="for a folder: the files to transcribe, a pattern relative to it "
        "(e.g. '*.wav' or '**/*.flac'; default: its .wav/.flac/.ogg files)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs (default: keep them and skip the song)"
    )
    parser.add_argument(
        "--ckpt",
        default=None,
        help="checkpoint written by `python -m gru_attn.train` "
        "(default: the model shipped with the package, gru_attn/weights/default.pt)",
    )
    parser.add_argument("--out", default=".", help="output folder (default: the current folder)")
    parser.add_argument(
        "--name", help="output file name (without extension) for a single input (default: the input's name)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--synth", action="store_true", help="also write <name>.synth.wav (the notes rendered)")
    parser.add_argument("--plot", action="store_true", help="also write <name>.png (piano roll + probabilities)")
    parser.add_argument("--feat", help="VOCANO-layout features <name>_feat.npy to use instead of computing them")
    parser.add_argument("--pitch", help="pitch contour <name>_pitch.npy (Hz) to use instead of tracking it")
    add_inference_options(parser)
    return parser.parse_args(argv)


def parse_formats(text: str) -> tuple[str, ...]:
    """``"mid,csv"`` -> ``("mid", "csv")`` (order kept, repeats dropped); InputError for an unknown one."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"--formats {text!r}: expected a comma-separated list out of {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(formats))


def list_inputs(path: Path, pattern: str | None = None) -> list[Path]:
    """The files to transcribe: ``[path]`` for a file, else the folder's audio files or, with ``pattern``,
    the files matching it (sorted). InputError when none match or two share a name (their outputs would)."""
    if pattern is None:
        return find_audio_files(path)
    if not path.is_dir():
        raise InputError(f"{path}: --glob goes with a folder")
    try:
        files = sorted(p for p in path.glob(pattern) if p.is_file())
    except (ValueError, NotImplementedError) as exc:
        raise InputError(f"--glob {pattern!r}: {exc}") from None
    if not files:
        raise InputError(f"{path}: no files match --glob {pattern!r}")
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise InputError(f"{p}: same name as {seen[p.stem]} (outputs are named by file stem)")
        seen[p.stem] = p
    return files


def _jobs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """(output name, audio path or None) of every song to transcribe; InputError for bad combinations."""
    if args.input is None:
        if args.feat is None or args.pitch is None:
            raise InputError("give an audio file or folder, or both --feat and --pitch")
        stem = Path(args.feat).name
        jobs = [(stem[: -len(FEAT_SUFFIX)] if stem.endswith(FEAT_SUFFIX) else Path(stem).stem, None)]
    else:
        if (args.feat or args.pitch or args.name) and Path(args.input).is_dir():
            raise InputError(f"{args.input}: --feat, --pitch and --name go with a single audio file, not a folder")
        jobs = [(p.stem, p) for p in list_inputs(Path(args.input), args.glob)]
    if args.glob is not None and args.input is None:
        raise InputError("--glob goes with a folder")
    args.formats = parse_formats(args.formats)
    low, high = MIDI_TEMPO_RANGE
    if not low <= args.tempo <= high:
        raise InputError(f"--tempo {args.tempo:g}: expected {low:g} to {high:g} bpm")
    if args.name is not None and (not args.name or Path(args.name).name != args.name):
        raise InputError(f"--name {args.name!r}: expected a plain file name without folders")
    if args.segment_frames is not None and args.segment_frames < 1:
        raise InputError(f"--segment-frames {args.segment_frames}: expected a positive number of frames")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out {args.out}: is a file, expected a folder")
    return [(args.name, path) for _, path in jobs] if args.name else jobs


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 some inputs failed, 2 bad checkpoint/option/input path)."""
    safe_streams()
    args = parse_args(argv)
    try:
        jobs = _jobs(args)
        device = resolve_device(args.device, option="--device")
        model, info = load_model(default_checkpoint(args.ckpt), device)
        info = with_decoder(with_pitch_method(model, info, args.pitch_method), args.decode)
    except InputError as exc:
        print_error(exc)
        return 2
    out_dir = Path(args.out)

    def run(job: tuple[str, Path | None]) -> Transcription | InputError:
        """Transcribe one song; the InputError that stops it (outputs already there, bad input) as its result."""
        name, path = job
        try:
            outputs = output_paths(name, out_dir, args.formats, args.synth, args.plot).values()
            existing = [p for p in outputs if p.exists()]
            if existing and not args.overwrite:
                raise InputError(
                    f"{', '.join(map(str, existing))}: {'exists' if len(existing) == 1 else 'exist'} (use --overwrite)"
                )
            return transcribe_file(
                path,
                model,
                info,
                device,
                Path(args.feat) if args.feat else None,
                Path(args.pitch) if args.pitch else None,
                args.segment_frames,
            )
        except InputError as exc:
            return exc

    failed = 0
    sizes = [path.stat().st_size if path is not None and path.is_file() else 0 for _, path in jobs]
    results = transcribed_in_turn(run, jobs, sizes, parallel_songs(sizes, device))
    progress = tqdm(jobs, desc="transcribe", unit="file", disable=len(jobs) == 1 or not sys.stderr.isatty())
    with closing(results):
        for (name, _), result in zip(progress, results):
            try:
                if isinstance(result, InputError):
                    raise result
                write_outputs(name, result, info, out_dir, args.formats, args.tempo, synth=args.synth, plot=args.plot)
            except InputError as exc:
                failed += 1
                tqdm.write(f"error: {exc}", file=sys.stderr)
                continue
            except OSError as exc:  # an unwritable --out, a full disk: nothing of this song is left
                failed += 1
                tqdm.write(f"error: {out_dir}: cannot write the outputs of {name} ({os_reason(exc)})", file=sys.stderr)
                continue
            tqdm.write(summary_line(name, result))
    if len(jobs) > 1:
        print(
            f"transcribed {len(jobs) - failed} of {len(jobs)} files into {out_dir}"
            + (f"; {failed} failed" if failed else "")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
