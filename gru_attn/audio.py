"""Load any audio file as mono float32 at 16 kHz, scaled exactly as VOCANO does.

VOCANO reads 16-bit PCM as ``float32(int16) / 32767.0`` (a float32 division) and its
CFP features are sensitive to that rounding (see ``cfp.py``), so 16-bit PCM files are
read as int16 and scaled the same way, bit for bit. Other sample formats (8/24/32-bit
PCM, float, Vorbis) are read as float32 in [-1, 1) by libsndfile. Multi-channel audio
is averaged to mono (after scaling, as VOCANO does); other sample rates are resampled
with ``scipy.signal.resample_poly``.

:func:`find_audio_files` lists the audio inputs of the command-line tools.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from gru_attn.errors import InputError
from gru_attn.files import check_readable
from gru_attn.frames import HOP, SAMPLE_RATE

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
INT16_SCALE = np.float32(32767.0)  # VOCANO's divisor (not 32768)
MIN_CFP_SAMPLES = 2 * HOP + 1  # 641 samples = 2 frames: fewer make the flux blocks constant
SILENCE_PEAK = 1e-4  # peak |sample| below this (about 3 LSB of 16-bit audio) counts as silent


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """(N,) float32 mono samples of ``path`` (WAV/FLAC/OGG, any rate/channels) at 16 kHz.

    Raises InputError naming the file when it is missing, empty, not readable audio
    or holds no samples.
    """
    path = check_readable(path, "an audio file")  # missing, a symlink loop, a folder, permission denied
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, expected audio (WAV/FLAC/OGG)")
    try:
        name = os.fsencode(path)  # bytes: libsndfile opens any file name (also ones that are not UTF-8)
        int16 = sf.info(name).subtype == "PCM_16"
        data, rate = sf.read(name, dtype="int16" if int16 else "float32", always_2d=True)
    except (RuntimeError, ValueError) as exc:  # sf.LibsndfileError is a RuntimeError
        reason = getattr(exc, "error_string", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}: not a readable audio file (expected WAV/FLAC/OGG): {reason}") from None
    if data.shape[0] == 0:
        raise InputError(f"{path}: holds no audio samples")
    audio = data.astype(np.float32) / INT16_SCALE if int16 else data
    audio = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        import scipy.signal  # here, not at the top: ~50 MB and 0.5 s that 16 kHz input never needs

        g = math.gcd(SAMPLE_RATE, rate)
        audio = scipy.signal.resample_poly(audio, SAMPLE_RATE // g, rate // g)
    return np.ascontiguousarray(audio, dtype=np.float32)


def check_cfp_audio(audio: np.ndarray, source: str | os.PathLike = "audio") -> None:
    """Raise InputError (naming ``source``) unless 16 kHz ``audio`` (N,) can give CFP features.

    CFP needs a 1-D finite signal of at least ``MIN_CFP_SAMPLES`` samples (2 frames:
    with fewer the flux blocks are constant) that is not silent (peak >= ``SILENCE_PEAK``;
    VOCANO returns NaN features for silence).
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise InputError(f"{source}: expected mono audio of shape (N,), got shape {audio.shape}")
    if audio.size < MIN_CFP_SAMPLES:
        raise InputError(
            f"{source}: audio too short: {audio.size} samples ({audio.size / SAMPLE_RATE:.3f} s) "
            f"at 16 kHz; CFP needs at least {MIN_CFP_SAMPLES} (2 frames)"
        )
    if not np.all(np.isfinite(audio)):
        raise InputError(f"{source}: audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(audio)))
    if peak < SILENCE_PEAK:
        raise InputError(
            f"{source}: audio is silent (peak |sample| {peak:.2g} < {SILENCE_PEAK:g}); "
            "CFP features are undefined for silence"
        )


def find_audio_files(path: str | os.PathLike) -> list[Path]:
    """``[path]`` for a file, else the folder's audio files (``AUDIO_EXTENSIONS``, not recursive, sorted).

    Raises InputError for a missing path, a folder without audio files, or two files
    of one folder sharing a name (their outputs would collide).
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        check_readable(path, "an audio file or folder")  # says why: no such file, a symlink loop, ...
        raise InputError(f"{path}: not a file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise InputError(f"{path}: folder holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    stems = [p.stem for p in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise InputError(f"{path}: several files named {clashes[0]!r} (outputs are named by file stem)")
    return files
