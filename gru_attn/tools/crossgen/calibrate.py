"""The cross-generator's label delays: where a GM program's rendered note really starts and ends."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gru_attn.frames import SAMPLE_RATE
from gru_attn.tools.crossgen.compose import Note
from gru_attn.tools.crossgen.midi import voice_midi
from gru_attn.tools.crossgen.render import render_midi

LEVEL_DB = 15.0  # the energy threshold below the sustain level that calibrate measures


def envelope_db(x: np.ndarray, step: float = 0.01) -> np.ndarray:
    """RMS level in dB of consecutive ``step`` s frames of 16 kHz ``x``."""
    hop = int(step * SAMPLE_RATE)
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def calibrate(program: int, soundfont: Path, workdir: Path) -> dict:
    """Measured label delays of ``program`` (s): ``on`` from a note's scheduled start to the
    energy rise, ``off`` from its scheduled end to the energy fall (negative = before).

    Renders isolated notes at MIDI 50, 60 and 70 (no vibrato, full expression) the way
    :func:`voice_midi` renders songs and takes the median over them of the times the 10 ms
    RMS crosses ``LEVEL_DB`` dB below the note's sustain level.
    """
    starts = (1.0, 3.0, 5.0)
    notes = [Note(s, s + 0.8, p, 100, (1.0, 1.0), vibrato=(5.5, 0.0, 0.0)) for s, p in zip(starts, (50, 60, 70))]
    path = workdir / f"calibrate_{program}.mid"
    voice_midi(notes, program, path)
    audio = render_midi(path, soundfont, 7.0)
    env = envelope_db(audio)
    on, off = [], []
    for n in notes:
        lo, hi = int((n.start - 0.2) / 0.01), int((n.end + 0.4) / 0.01)
        sustain = np.median(env[int((n.start + 0.3) / 0.01) : int((n.end - 0.1) / 0.01)])
        above = np.flatnonzero(env[lo:hi] >= sustain - LEVEL_DB)
        # frame k covers [k, k+1) * 10 ms: the crossing is at its centre
        on.append((lo + above[0] + 0.5) * 0.01 - n.start)
        off.append((lo + above[-1] + 0.5) * 0.01 - n.end)
    return {"on": round(float(np.median(on)), 4), "off": round(float(np.median(off)), 4)}
