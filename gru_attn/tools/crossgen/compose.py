"""The cross-generator's composer: a sung melody as scheduled notes, and its reference labels.

Shares no code with the training corpus's singer (``gru_attn.data.singer``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gru_attn.notes import NoteList

RANGE = (48, 76)  # MIDI range of all singers


@dataclasses.dataclass
class Note:
    """One sung note: scheduled start/end (s), MIDI pitch, velocity, expression (0-1) at
    start and end, channel, the legato link to the next note (``glide`` s, 0 = detached;
    with ``dip_db`` > 0 a voiced consonant of ``glide`` s ending at the next note's start,
    else a melisma glide centred on the boundary), vibrato (rate Hz, depth cents, phase),
    intonation offset (cents) and scoop (cents below the pitch at a detached start)."""

    start: float
    end: float
    pitch: int
    velocity: int
    expr: tuple[float, float]
    channel: int = 0
    glide: float = 0.0
    vibrato: tuple[float, float, float] = (5.5, 40.0, 0.0)  # rate Hz, depth cents, phase
    dip_db: float = 0.0
    detune: float = 0.0
    scoop: float = 0.0


MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


def compose_melody(rng: np.random.Generator, seconds: float) -> tuple[list[Note], dict]:
    """A sung melody of ``seconds`` s: phrases of stepwise lines with leaps, rests between.

    Notes 0.15-1.5 s inside a singer's range (centre drawn in 54-70, within MIDI 48-76),
    on the degrees of a drawn key; inside a phrase about 40 % of the boundaries are
    voiced-consonant links, 20 % melisma glides and the rest detached by 40-150 ms. Returns
    (notes, key info ``{"tonic", "mode", "beat", "low", "high"}``); the notes' MIDI channels
    are assigned by :func:`gru_attn.tools.crossgen.midi.voice_midi`.
    """
    tonic = int(rng.integers(0, 12))
    mode = "major" if rng.random() < 0.6 else "minor"
    scale = MAJOR if mode == "major" else MINOR
    centre = int(rng.integers(54, 71))
    low, high = max(RANGE[0], centre - 8), min(RANGE[1], centre + 8)
    pitches = [p for p in range(low, high + 1) if (p - tonic) % 12 in scale]
    beat = float(rng.uniform(0.35, 0.7))
    notes: list[Note] = []
    t = float(rng.uniform(0.3, 0.8))
    idx = int(np.argmin([abs(p - centre) for p in pitches]))
    while True:
        n_notes = int(rng.integers(3, 10))
        phrase: list[Note] = []
        for _ in range(n_notes):
            beats = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0], p=[0.3, 0.35, 0.12, 0.15, 0.08]))
            dur = float(np.clip(beats * beat * rng.uniform(0.9, 1.1), 0.15, 1.5))
            if t + dur > seconds - 0.3:
                break
            expr0 = float(rng.uniform(0.55, 1.0))
            expr1 = float(np.clip(expr0 + rng.uniform(-0.35, 0.25), 0.35, 1.0))
            vib = (float(rng.uniform(5.0, 6.0)), float(rng.uniform(30.0, 60.0)), float(rng.uniform(0, 2 * np.pi)))
            detune = float(rng.uniform(-10.0, 10.0))
            scoop = float(rng.uniform(40.0, 100.0)) if dur >= 0.35 and rng.random() < 0.3 else 0.0
            phrase.append(
                Note(
                    t,
                    t + dur,
                    pitches[idx],
                    int(rng.integers(60, 121)),
                    (expr0, expr1),
                    vibrato=vib,
                    detune=detune,
                    scoop=scoop,
                )
            )
            step = int(
                rng.choice(
                    [-1, 1, 0, -2, 2, -3, 3, -4, 4, 5, -5],
                    p=[0.22, 0.22, 0.2, 0.09, 0.09, 0.05, 0.05, 0.03, 0.03, 0.01, 0.01],
                )
            )
            new = idx + step
            if not 0 <= new < len(pitches):
                new = idx - step
            idx = int(np.clip(new, 0, len(pitches) - 1))
            t += dur
            anchor = next(n.pitch for n in reversed(phrase) if n is phrase[0] or not _glided_in(phrase, n))
            interval = abs(pitches[idx] - phrase[-1].pitch)
            link = rng.random()
            reachable = abs(pitches[idx] - anchor) <= 9 and interval <= 5 and dur >= 0.25
            if reachable and link < 0.4:  # voiced consonant
                phrase[-1].glide = float(rng.uniform(0.05, 0.1))
                phrase[-1].dip_db = float(rng.uniform(12.0, 24.0))
            elif reachable and link < 0.6 and interval > 0:  # melisma
                phrase[-1].glide = float(rng.uniform(0.04, 0.1))
            else:
                t += float(rng.uniform(0.04, 0.15))
        if phrase:
            phrase[-1].glide, phrase[-1].dip_db = 0.0, 0.0
            notes += phrase
        t += float(rng.uniform(0.4, 1.5))
        if t > seconds - 0.6:
            break
    return notes, {"tonic": tonic, "mode": mode, "beat": beat, "low": low, "high": high}


def _glided_in(phrase: list[Note], note: Note) -> bool:
    """Whether ``note`` of ``phrase`` is reached by a glide from the note before it."""
    k = next(i for i, n in enumerate(phrase) if n is note)
    return k > 0 and phrase[k - 1].glide > 0


def reference_labels(notes: list[Note], delays: dict) -> NoteList:
    """Reference notes: scheduled times moved by the measured ``delays`` (``on``, ``off`` s);
    connected notes share their scheduled boundary (glide midpoint or consonant end)."""
    rows = []
    for k, n in enumerate(notes):
        glided_in = k > 0 and notes[k - 1].glide > 0
        onset = n.start if glided_in else n.start + delays["on"]
        offset = n.end if n.glide else n.end + delays["off"]
        rows.append((onset, offset, n.pitch))
    return NoteList.from_rows(rows)
