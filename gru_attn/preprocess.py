"""CLI: audio files -> VOCANO-layout CFP features and pitch contours.

    python -m gru_attn.preprocess <audio file or folder> [--out generated]
        [--device auto|cpu|cuda] [--pitch-method M] [--force]

For every input ``<name>.wav|.flac|.ogg`` (a folder is scanned, not recursively, in
sorted order) writes, exactly as VOCANO names them:

    <out>/feat/<name>_feat.npy     (1566, T) float32 CFP features (``cfp.cfp_features``)
    <out>/pitch/<name>_pitch.npy   (T,) float64 f0 in Hz, 0 = unvoiced (``pitch.track_pitch``)

Files whose two outputs exist and are not older than the input are skipped (unless
``--force``). Outputs are written atomically, so an interrupted run never leaves a
truncated ``.npy``. A bad input prints ``error: <file>: <reason>`` and the other files
are still processed; the exit status is then 1. A missing input path, an unavailable
``--device cuda`` or an ``--out`` that cannot be a folder exits with 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from gru_attn.audio import find_audio_files, load_audio
from gru_attn.cfp import cfp_features
from gru_attn.devices import resolve_device
from gru_attn.errors import ArgumentParser, InputError, print_error, safe_streams
from gru_attn.files import check_out_folder, os_reason, remove_stale_temps, save_npy
from gru_attn.pitch import DEFAULT_METHOD, track_pitch, tracker_names


def output_paths(path: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """(``<out>/feat/<stem>_feat.npy``, ``<out>/pitch/<stem>_pitch.npy``) for input ``path``."""
    stem, out_dir = Path(path).stem, Path(out_dir)
    return out_dir / "feat" / f"{stem}_feat.npy", out_dir / "pitch" / f"{stem}_pitch.npy"


def is_up_to_date(path: str | os.PathLike, out_dir: str | os.PathLike) -> bool:
    """True when both outputs of ``path`` exist and none is older than ``path``."""
    source_time = Path(path).stat().st_mtime_ns
    return all(out.is_file() and out.stat().st_mtime_ns >= source_time for out in output_paths(path, out_dir))


def compute_outputs(
    audio: np.ndarray, device: str = "auto", pitch_method: str = DEFAULT_METHOD, source: str = "audio"
) -> tuple[np.ndarray, np.ndarray]:
    """(features (1566, T) float32, pitch (T,) float64 Hz) of 16 kHz mono ``audio`` (N,)."""
    features = cfp_features(audio, device=device, source=source)
    pitch = np.asarray(track_pitch(audio, method=pitch_method), dtype=np.float64)
    if pitch.shape != (features.shape[1],):
        raise RuntimeError(f"{source}: pitch has shape {pitch.shape}, features have {features.shape[1]} frames")
    return features, pitch


def preprocess_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike = "generated",
    device: str = "auto",
    pitch_method: str = DEFAULT_METHOD,
    force: bool = False,
) -> bool:
    """Write the feature and pitch files of one audio file; False when skipped as up to date.

    Raises InputError (naming the file) for unreadable, too short or silent audio.
    """
    if not force and Path(path).is_file() and is_up_to_date(path, out_dir):
        return False
    features, pitch = compute_outputs(load_audio(path), device, pitch_method, source=str(path))
    feat_path, pitch_path = output_paths(path, out_dir)
    save_npy(feat_path, features)
    save_npy(pitch_path, pitch)
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m gru_attn.preprocess", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="audio file (.wav/.flac/.ogg) or folder of audio files")
    parser.add_argument("--out", default="generated", help="output folder (default: generated)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="CFP device (default: auto)")
    parser.add_argument(
        "--pitch-method",
        default=DEFAULT_METHOD,
        choices=tracker_names(),
        help=f"pitch tracker of conf/pitch (default: {DEFAULT_METHOD})",
    )
    parser.add_argument("--force", action="store_true", help="recompute outputs that are up to date")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 some files failed, 2 bad input path)."""
    safe_streams()
    args = parse_args(argv)
    try:
        files = find_audio_files(args.input)
        resolve_device(args.device, option="--device")
        check_out_folder(args.out)  # --out is a file, or cannot be created: one line
        for sub in ("feat", "pitch"):
            check_out_folder(Path(args.out) / sub, option="--out")
            remove_stale_temps(Path(args.out) / sub)  # left by a killed run
    except InputError as exc:
        print_error(exc)
        return 2
    start = time.perf_counter()
    processed = skipped = failed = 0
    seconds = 0.0
    for path in tqdm(files, desc="preprocess", unit="file", disable=not sys.stderr.isatty()):
        try:
            if preprocess_file(path, args.out, args.device, args.pitch_method, args.force):
                processed += 1
                seconds += sf.info(os.fsencode(path)).duration  # bytes: any file name
            else:
                skipped += 1
        except InputError as exc:
            failed += 1
            tqdm.write(f"error: {exc}", file=sys.stderr)
        except OSError as exc:  # a full disk: the file's outputs are not written (atomically)
            failed += 1
            tqdm.write(f"error: {args.out}: cannot write the outputs of {path} ({os_reason(exc)})", file=sys.stderr)
    print(
        f"processed {processed}, skipped {skipped} (up to date), failed {failed}; "
        f"{seconds:.1f} s of audio in {time.perf_counter() - start:.1f} s; outputs in {args.out}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
