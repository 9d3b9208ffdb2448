"""CLI: sung audio + a checkpoint -> notes as MIDI and CSV (optionally a rendered WAV and a plot).

    python -m gru_attn.transcribe <audio file or folder> --ckpt CHECKPOINT [--out DIR] [--name NAME]
        [--device auto|cpu|cuda] [--synth] [--plot] [--segment-frames N]
    python -m gru_attn.transcribe [<audio file>] --ckpt CHECKPOINT --feat F_feat.npy [--pitch P_pitch.npy]

For every input ``<name>.wav|.flac|.ogg`` (a folder is scanned, not recursively, in
sorted order) writes into ``--out`` (default: the current folder), under ``--name``
when given (a single input only):

- ``<name>.mid``: the notes, one piano track (times in seconds within 0.3 ms; pitch
  rounded to the nearest MIDI number);
- ``<name>.csv``: ``onset,offset,midi,hz`` (seconds, fractional MIDI, Hz);
- with ``--synth``, ``<name>.synth.wav``: the notes rendered as harmonic tones (16 kHz);
- with ``--plot``, ``<name>.png``: the notes over the pitch contour, with the voiced /
  onset / offset probabilities beneath.

The checkpoint carries everything else: model, feature layout, decoding thresholds
and the pitch tracker. ``--feat`` / ``--pitch`` reuse VOCANO-layout files (as written by
``python -m gru_attn.preprocess``) instead of computing features / pitch from audio;
with both, no audio is needed.

One summary line per file (notes, duration, real-time factor). A bad input prints
``error: <file>: <reason>`` and the other files are still transcribed; the exit status
is then 1. A bad checkpoint, a missing input or a bad option exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from gru_attn.audio import find_audio_files, load_audio
from gru_attn.devices import resolve_device
from gru_attn.errors import InputError
from gru_attn.features import FEAT_SUFFIX
from gru_attn.files import atomic_path
from gru_attn.frames import SAMPLE_RATE
from gru_attn.inference import (
    ModelInfo,
    Transcription,
    features_from_file,
    load_model,
    pitch_from_file,
    transcribe_audio,
)
from gru_attn.notes import NoteList, write_notes
from gru_attn.plots import plot_transcription

SYNTH_HARMONICS = (1.0, 0.5, 0.25, 0.125)  # relative amplitudes of partials 1..4
SYNTH_FADE_S = 0.01  # raised-cosine fade in and out of every note
SYNTH_LEVEL = 0.3  # peak amplitude of one note


def render_notes(notes: NoteList, duration_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) float32 audio of ``duration_s`` seconds: each note a harmonic tone at its pitch.

    Partials above Nyquist are left out; every note fades in and out over
    ``SYNTH_FADE_S`` (shortened for very short notes), so notes never click.
    """
    out = np.zeros(int(round(duration_s * sample_rate)), dtype=np.float64)
    for onset, offset, hz in zip(notes.onsets, notes.offsets, notes.hz):
        start, stop = int(round(onset * sample_rate)), min(int(round(offset * sample_rate)), len(out))
        if stop <= start:
            continue
        t = np.arange(stop - start) / sample_rate
        tone = sum(a * np.sin(2 * np.pi * k * hz * t) for k, a in enumerate(SYNTH_HARMONICS, start=1)
                   if k * hz < sample_rate / 2)
        fade = min(int(SYNTH_FADE_S * sample_rate), (stop - start) // 2)
        envelope = np.ones(stop - start)
        if fade:
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
            envelope[:fade], envelope[-fade:] = ramp, ramp[::-1]
        out[start:stop] += SYNTH_LEVEL / sum(SYNTH_HARMONICS) * tone * envelope
    return out.astype(np.float32)


def write_wav(audio: np.ndarray, path: Path, sample_rate: int = SAMPLE_RATE) -> None:
    """Write (N,) float audio in [-1, 1] as 16-bit PCM WAV, atomically."""
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")


def write_outputs(name: str, result: Transcription, info: ModelInfo, out_dir: Path, synth: bool = False,
                  plot: bool = False) -> list[Path]:
    """Write ``<name>.mid``, ``<name>.csv`` and, on request, ``.synth.wav`` / ``.png``; returns the paths."""
    paths = [out_dir / f"{name}.mid", out_dir / f"{name}.csv"]
    write_notes(result.notes, paths[0])
    write_notes(result.notes, paths[1], columns=("onset", "offset", "midi", "hz"))
    if synth:
        paths.append(out_dir / f"{name}.synth.wav")
        write_wav(render_notes(result.notes, result.duration_s), paths[-1])
    if plot:
        d = info.decode
        paths.append(out_dir / f"{name}.png")
        plot_transcription(paths[-1], result.notes, result.pitch, result.probs,
                           thresholds=(d.voiced_threshold, d.onset_threshold, d.offset_threshold),
                           title=f"{name} ({info.path.name})")
    return paths


def summary_line(name: str, result: Transcription) -> str:
    """``<name>: N notes, D s of audio, RTF r (features a s, pitch b s, model c s, decode d s)``."""
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    return (f"{name}: {len(result.notes)} notes, {result.duration_s:.1f} s of audio, "
            f"RTF {result.rtf:.3f} ({stages})")


def transcribe_file(path: Path | None, model, info: ModelInfo, device, feat: Path | None = None,
                    pitch: Path | None = None, segment_frames: int | None = None) -> Transcription:
    """Transcribe audio file ``path`` (None when ``feat`` and ``pitch`` are both given)."""
    audio = load_audio(path) if path is not None else None
    feats = features_from_file(feat) if feat is not None else None
    contour = pitch_from_file(pitch) if pitch is not None else None
    source = path if path is not None else feat
    return transcribe_audio(model, info, audio, feats=feats, pitch=contour, source=source, device=device,
                            segment_frames=segment_frames, feat_source=feat, pitch_source=pitch)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gru_attn.transcribe", description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", help="audio file (.wav/.flac/.ogg) or folder of audio files")
    parser.add_argument("--ckpt", required=True, help="checkpoint written by `python -m gru_attn.train`")
    parser.add_argument("--out", default=".", help="output folder (default: the current folder)")
    parser.add_argument("--name", help="output file name (without extension) for a single input "
                        "(default: the input's name)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--synth", action="store_true", help="also write <name>.synth.wav (the notes rendered)")
    parser.add_argument("--plot", action="store_true", help="also write <name>.png (piano roll + probabilities)")
    parser.add_argument("--feat", help="VOCANO-layout features <name>_feat.npy to use instead of computing them")
    parser.add_argument("--pitch", help="pitch contour <name>_pitch.npy (Hz) to use instead of tracking it")
    parser.add_argument("--segment-frames", type=int, default=None,
                        help="frames per inference segment (default: 256 on CPU, 1024 on CUDA)")
    return parser.parse_args(argv)


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
        jobs = [(p.stem, p) for p in find_audio_files(args.input)]
    if args.name is not None and (not args.name or Path(args.name).name != args.name):
        raise InputError(f"--name {args.name!r}: expected a plain file name without folders")
    if args.segment_frames is not None and args.segment_frames < 1:
        raise InputError(f"--segment-frames {args.segment_frames}: expected a positive number of frames")
    return [(args.name, path) for _, path in jobs] if args.name else jobs


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 some inputs failed, 2 bad checkpoint/option/input path)."""
    args = parse_args(argv)
    try:
        jobs = _jobs(args)
        device = resolve_device(args.device, option="--device")
        model, info = load_model(args.ckpt, device)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    failed = 0
    for name, path in tqdm(jobs, desc="transcribe", unit="file", disable=len(jobs) == 1 or not sys.stderr.isatty()):
        try:
            result = transcribe_file(path, model, info, device, Path(args.feat) if args.feat else None,
                                     Path(args.pitch) if args.pitch else None, args.segment_frames)
            write_outputs(name, result, info, out_dir, synth=args.synth, plot=args.plot)
        except InputError as exc:
            failed += 1
            tqdm.write(f"error: {exc}", file=sys.stderr)
            continue
        except OSError as exc:  # an unwritable --out
            failed += 1
            tqdm.write(f"error: {out_dir}: cannot write the outputs of {name} ({exc.strerror or exc})", file=sys.stderr)
            continue
        tqdm.write(summary_line(name, result))
    if len(jobs) > 1:
        print(f"transcribed {len(jobs) - failed} of {len(jobs)} files into {out_dir}" +
              (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
