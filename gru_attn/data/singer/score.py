"""The singer and the score: who sings, and what.

*Score*: a key (major, natural/harmonic minor, dorian or pentatonic), a tempo of
60-160 BPM, phrases of 3-12 notes separated by rests of 0.2-1.5 s (and the odd rest
inside a phrase), mostly stepwise motion with leaps and repeated same-pitch notes,
legato (connected) and detached notes of 0.1-2 s, melismas (runs of 1-4 quick notes a
scale step apart on one vowel), in a singer's range of about an octave and a half
inside MIDI 45-80.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gru_attn.errors import InputError

MIDI_LOW, MIDI_HIGH = 45, 80  # labelled pitch range
MIN_NOTE, MAX_NOTE = 0.1, 2.0  # note duration range, s

# Major-key scale degrees (semitones) per mode, and how often each mode is drawn.
SCALES = (
    (0, 2, 4, 5, 7, 9, 11),
    (0, 2, 3, 5, 7, 8, 10),
    (0, 2, 3, 5, 7, 8, 11),
    (0, 2, 3, 5, 7, 9, 10),
    (0, 2, 4, 7, 9),
)
_SCALE_P = (0.45, 0.25, 0.1, 0.1, 0.1)
# Note slots in beats and their weights; slots outside [0.12, 2] s at the tempo are dropped.
_BEATS = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
_BEAT_W = np.array([0.4, 3.0, 0.4, 3.0, 1.0, 1.5, 0.6, 0.3])
# Melodic steps in scale degrees (0 = repeated note) and their weights.
_STEPS = np.array([0, 1, 2, 3, 4, 5, 7])
_STEP_W = np.array([0.17, 0.45, 0.2, 0.08, 0.05, 0.03, 0.02])
# Phonation types: modal, breathy, belt, falsetto, and how often each is drawn.
_PHONATIONS = ("modal", "breathy", "belt", "falsetto")
_PHONATION_P = (0.55, 0.17, 0.14, 0.14)


@dataclass(frozen=True)
class Singer:
    """Per-song voice: range (MIDI), formant scaling, vibrato, source and noise settings."""

    low: int
    high: int
    formant_scale: float
    upper_formants: tuple  # F4, F5 in Hz
    bandwidths: np.ndarray  # (5,) formant bandwidths, Hz
    vib_rate: float  # Hz
    vib_depth: float  # cents, peak
    amp_vib_db: float  # amplitude vibrato depth, dB
    tilt: float  # harmonic h has amplitude h ** -tilt before the formants
    h1_gain: float  # extra gain of the first harmonic
    breath_db: float  # aspiration noise level re. the harmonics, dB
    jitter: float  # relative f0 noise per control step
    shimmer_db: float  # amplitude noise per control step, dB
    phonation: str  # one of _PHONATIONS
    fry: float  # probability of vocal fry at a phrase end
    dynamics_db: float  # spread of the phrase levels, dB


@dataclass(frozen=True)
class Score:
    """The notes of a song, (n,) arrays, plus key and tempo; ``end`` is the song length in s."""

    onset: np.ndarray  # s
    offset: np.ndarray  # s
    midi: np.ndarray  # int
    connected: np.ndarray  # bool: starts where the previous note ends (legato)
    melisma: np.ndarray  # bool: connected and sung on the previous note's vowel
    tonic: int  # pitch class
    scale: tuple
    tempo: float  # BPM
    end: float


def draw_singer(rng: np.random.Generator) -> Singer:
    """A random voice: low (MIDI ~45-64) to high (~61-80), with its timbre, phonation and vibrato.

    The formant scale (vocal-tract length) follows the range loosely, from about 0.9
    (long male tract) to 1.35 (child); the phonation sets the source: breathy (more
    aspiration, steeper tilt), belt (flat tilt: strong high harmonics), falsetto (steep
    tilt, strong first harmonic, weak upper ones).
    """
    centre, half = rng.uniform(52.0, 73.0), rng.uniform(7.0, 10.0)
    highness = (centre - 52.0) / 21.0
    scale = float(np.clip(0.95 + 0.25 * highness + rng.normal(0.0, 0.07), 0.88, 1.35))
    if rng.random() < 0.3:  # trained voice: F4/F5 close together make a "singer's formant"
        f4 = rng.uniform(2800.0, 3100.0)
        upper = (f4, f4 + rng.uniform(300.0, 500.0))
    else:
        upper = (rng.uniform(3200.0, 3700.0) * np.sqrt(scale), rng.uniform(4100.0, 4700.0) * np.sqrt(scale))
    phonation = str(_PHONATIONS[rng.choice(len(_PHONATIONS), p=_PHONATION_P)])
    tilt, h1, breath = rng.uniform(0.6, 1.3), rng.uniform(0.8, 2.0), rng.uniform(-38.0, -22.0)
    if phonation == "breathy":
        tilt, h1, breath = tilt + 0.3, h1 * 1.5, rng.uniform(-20.0, -10.0)
    elif phonation == "belt":
        tilt, h1 = rng.uniform(0.3, 0.6), rng.uniform(0.6, 1.0)
    elif phonation == "falsetto":
        tilt, h1, breath = rng.uniform(1.6, 2.3), rng.uniform(2.0, 4.0), rng.uniform(-30.0, -16.0)
    return Singer(
        low=int(max(MIDI_LOW, round(centre - half))),
        high=int(min(MIDI_HIGH, round(centre + half))),
        formant_scale=scale,
        upper_formants=upper,
        bandwidths=np.array(
            [
                rng.uniform(50, 100),
                rng.uniform(70, 130),
                rng.uniform(100, 180),
                rng.uniform(150, 250),
                rng.uniform(200, 300),
            ]
        ),
        vib_rate=rng.uniform(4.5, 7.0),
        vib_depth=rng.uniform(20.0, 80.0),
        amp_vib_db=rng.uniform(0.3, 2.0),
        tilt=tilt,
        h1_gain=h1,
        breath_db=breath,
        jitter=rng.uniform(0.002, 0.006),
        shimmer_db=rng.uniform(0.2, 0.8),
        phonation=phonation,
        fry=rng.choice([0.0, rng.uniform(0.3, 0.8)], p=[0.7, 0.3]),
        dynamics_db=rng.uniform(1.0, 2.5),
    )


def _next_degree(rng: np.random.Generator, degree: int, last_step: int, n_degrees: int) -> tuple[int, int]:
    """Next scale degree of a melody in [0, n_degrees): mostly steps, some leaps and repeats.

    The direction leans towards the middle of the range and turns back after a leap.
    """
    size = int(rng.choice(_STEPS, p=_STEP_W / _STEP_W.sum()))
    centre = (n_degrees - 1) / 2
    p_up = 0.5 - 0.35 * (degree - centre) / max(centre, 1.0)
    if abs(last_step) >= 3:
        p_up = 0.8 if last_step < 0 else 0.2
    step = size if rng.random() < p_up else -size
    if not 0 <= degree + step < n_degrees:
        step = -step
    new = int(np.clip(degree + step, 0, n_degrees - 1))
    return new, new - degree


def compose(rng: np.random.Generator, singer: Singer, seconds: float) -> Score:
    """A melody of about ``seconds``: phrases of notes in a key, with rests between phrases."""
    tempo = rng.uniform(60.0, 160.0)
    beat = 60.0 / tempo
    scale = SCALES[rng.choice(len(SCALES), p=_SCALE_P)]
    tonic = int(rng.integers(12))
    pitches = np.array([m for m in range(singer.low, singer.high + 1) if (m - tonic) % 12 in scale])
    slots = _BEATS * beat
    usable = (slots >= MIN_NOTE + 0.02) & (slots <= MAX_NOTE)
    slots, slot_p = slots[usable], _BEAT_W[usable] / _BEAT_W[usable].sum()
    degree, step = int(np.argmin(np.abs(pitches - (singer.low + singer.high) / 2))), 0
    onset, offset, midi, connected, melisma = [], [], [], [], []
    t = rng.uniform(0.3, 1.0)
    end_by = seconds - rng.uniform(0.3, 1.0)
    while t < end_by:
        n_notes, legato = int(rng.integers(3, 13)), rng.uniform(0.2, 0.95)
        linked, count, run = False, len(onset), 0  # run: melisma notes still to come
        for j in range(n_notes):
            in_run = run > 0 and linked
            if in_run:  # a melisma note: quick, a scale step away, on the same vowel
                slot = min(max(beat * rng.choice([0.25, 0.5]), MIN_NOTE + 0.02) * rng.uniform(0.97, 1.03), MAX_NOTE)
                run -= 1
            else:
                run = 0
                slot = rng.choice(slots, p=slot_p)
                if j == n_notes - 1:  # phrase ends lean long
                    slot = max(slot, rng.choice(slots, p=slot_p))
                slot = min(slot * rng.uniform(0.97, 1.03), MAX_NOTE)
            if t + slot > end_by:
                break
            if in_run:
                step = 1 if (rng.random() < 0.5 and degree + 1 < len(pitches)) or degree == 0 else -1
                degree += step
            else:
                degree, step = _next_degree(rng, degree, step, len(pitches))
            if run == 0 and j < n_notes - 2 and rng.random() < 0.1:  # a melisma follows this note
                run = int(rng.integers(1, min(4, n_notes - j - 1) + 1))
            rest_after = run == 0 and j < n_notes - 1 and rng.random() < 0.06
            hold = run > 0 or (j < n_notes - 1 and not rest_after and rng.random() < legato)
            gap = 0.0 if hold else min(rng.uniform(0.05, 0.2), slot - MIN_NOTE)
            onset.append(t)
            offset.append(t + slot - gap)
            midi.append(int(pitches[degree]))
            connected.append(linked)
            melisma.append(in_run)
            linked, t = hold, t + slot
            if rest_after:
                t = offset[-1] + rng.uniform(0.2, 0.6)
        if len(onset) == count:  # no room left for another phrase
            break
        t = offset[-1] + rng.uniform(0.2, 1.5)
    if not onset:
        raise InputError(f"song length {seconds:.1f} s: too short for a phrase (expected at least 3 s)")
    return Score(
        np.array(onset),
        np.array(offset),
        np.array(midi),
        np.array(connected),
        np.array(melisma),
        tonic,
        scale,
        tempo,
        end=offset[-1] + rng.uniform(0.3, 1.0),
    )
