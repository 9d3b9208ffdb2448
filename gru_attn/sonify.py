"""Notes made audible: a :class:`~gru_attn.notes.NoteList` rendered as harmonic tones
(``python -m gru_attn.transcribe --synth`` writes ``<name>.synth.wav`` with it).

Audio is (N,) float at 16 kHz unless a ``sample_rate`` is given; WAV files are 16-bit PCM,
written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from gru_attn.files import write_bytes
from gru_attn.frames import SAMPLE_RATE
from gru_attn.notes import NoteList

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
        tone = sum(
            a * np.sin(2 * np.pi * k * hz * t)
            for k, a in enumerate(SYNTH_HARMONICS, start=1)
            if k * hz < sample_rate / 2
        )
        fade = min(int(SYNTH_FADE_S * sample_rate), (stop - start) // 2)
        envelope = np.ones(stop - start)
        if fade:
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
            envelope[:fade], envelope[-fade:] = ramp, ramp[::-1]
        out[start:stop] += SYNTH_LEVEL / sum(SYNTH_HARMONICS) * tone * envelope
    return out.astype(np.float32)


def write_wav(audio: np.ndarray, path: Path, sample_rate: int = SAMPLE_RATE) -> None:
    """Write (N,) float audio in [-1, 1] as 16-bit PCM WAV, atomically (encoded in memory first, so a
    full disk or any file name is an ordinary ``OSError`` of the write, never a libsndfile error)."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    write_bytes(path, buf.getvalue())
