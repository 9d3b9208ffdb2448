"""The cross-generator's renderer: MIDI -> 16 kHz audio by the ``fluidsynth`` program, and the
synthetic room and noise of the ``reverb`` condition."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from gru_attn.errors import InputError
from gru_attn.frames import SAMPLE_RATE

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_RATE = 48000  # Hz; fluidsynth renders here, then 3:1 polyphase down to 16 kHz


def _missing_tool_message() -> str:
    return "fluidsynth not found: apt-get install fluidsynth fluid-soundfont-gm"


@functools.lru_cache(maxsize=8)
def find_fluidsynth(soundfont: Path) -> tuple[str, str]:
    """(fluidsynth executable, its version line); InputError naming what is missing."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise InputError(_missing_tool_message())
    if not Path(soundfont).is_file():
        raise InputError(
            f"{soundfont}: soundfont not found: apt-get install fluid-soundfont-gm (or pass --soundfont FILE.sf2)"
        )
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True)
    version = next((line for line in proc.stdout.splitlines() if "version" in line.lower()), "unknown").strip()
    return exe, version


def render_midi(midi_path: Path, soundfont: Path, seconds: float, effects: bool = False) -> np.ndarray:
    """Render a MIDI file with fluidsynth (48 kHz float) -> (seconds * 16000,) float64 mono at 16 kHz.

    ``effects``: fluidsynth's own reverb and chorus (off for the voice).
    """
    import scipy.signal

    exe, _ = find_fluidsynth(soundfont)
    with tempfile.TemporaryDirectory(prefix="gru_attn_crossgen_") as tmp:
        wav = Path(tmp) / "render.wav"
        flag = "1" if effects else "0"
        cmd = [
            exe,
            "-ni",
            "-q",
            "-R",
            flag,
            "-C",
            flag,
            "-g",
            "0.5",
            "-r",
            str(RENDER_RATE),
            "-O",
            "float",
            "-T",
            "wav",
            "-F",
            str(wav),
            str(soundfont),
            str(midi_path),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not wav.is_file():
            reason = (proc.stderr or proc.stdout).strip().splitlines()
            raise InputError(f"{midi_path}: fluidsynth failed: {reason[-1] if reason else proc.returncode}")
        audio, rate = sf.read(str(wav), dtype="float64", always_2d=True)
    audio = audio.mean(axis=1)
    audio = scipy.signal.resample_poly(audio, SAMPLE_RATE, rate)
    n = int(round(seconds * SAMPLE_RATE))
    return np.pad(audio, (0, max(0, n - len(audio))))[:n]


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x``."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def room_impulse(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A synthetic room: direct sound, then exponentially decaying, slowly darkening noise
    (RT60 0.3-1.0 s) after a 5-20 ms pre-delay; (impulse response at 16 kHz, draw)."""
    import scipy.signal

    rt60 = float(rng.uniform(0.3, 1.0))
    predelay = float(rng.uniform(0.005, 0.02))
    drr_db = float(rng.uniform(-3.0, 6.0))  # direct-to-reverberant energy ratio
    n = int(1.2 * rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail = scipy.signal.lfilter([0.6], [1, -0.4], tail)  # a little darker than white
    tail[: int(predelay * SAMPLE_RATE)] = 0
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    tail[0] += 1.0
    return tail, {"rt60_s": round(rt60, 3), "predelay_s": round(predelay, 4), "drr_db": round(drr_db, 2)}


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """(n,) unit-RMS white, pink (1/f) or brown (1/f^2) noise, shaped in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
    spec *= {"white": 1.0, "pink": f**-0.5, "brown": f**-1.0}[color]
    x = np.fft.irfft(spec, n)
    return x / rms(x)
