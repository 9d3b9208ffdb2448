"""The synthetic singer: a seeded, deterministic song renderer with exact labels.

:func:`render_song` turns ``(seed, split, index)`` into a :class:`Song` (16 kHz int16
audio, notes, the true f0 per 20 ms frame and the syllable timing behind the labels);
``gru_attn.synth`` writes songs into the cached corpus. Needs only numpy and scipy.

What a song holds
-----------------
*Score*: a key (major, natural/harmonic minor, dorian or pentatonic), a tempo of
60-160 BPM, phrases of 3-12 notes separated by rests of 0.2-1.5 s (and the odd rest
inside a phrase), mostly stepwise motion with leaps and repeated same-pitch notes,
legato (connected) and detached notes of 0.1-2 s, melismas (runs of 1-4 quick notes a
scale step apart on one vowel), in a singer's range of about an octave and a half
inside MIDI 45-80.

*Voice*: additive synthesis of the harmonics up to 7.6 kHz. Each harmonic's amplitude
comes from a glottal spectral tilt set by the phonation (modal, breathy, belt: strong
high harmonics, falsetto: steep tilt and a strong first harmonic), the vocal tract's
five formant resonances (vowel targets per syllable, gliding between syllables,
occasional diphthongs, F1 raised to follow high notes; scaled 0.88-1.35 for tract
lengths from male to child) and a taper below Nyquist. The f0 contour has per-note
intonation errors (within 10 cents), slow drift, scoops into detached notes, portamento
and overshoot on legato transitions, falls at phrase ends, and a vibrato with a
per-singer rate (4.5-7 Hz) and depth (20-80 cents peak) that develops after the start of
long notes. Jitter, shimmer, amplitude vibrato, phrase dynamics (per-singer spread),
pulsed aspiration noise, vocal fry (irregular low pulses) before some phrase ends,
breaths in some rests, and syllable-initial consonants complete the voice: unvoiced
fricatives (s, sh, f) and aspirates (h), plosives (closure and burst), nasals (m, n),
voiced fricatives (z, v) and liquids or glides (l, r, w, j).

*Mix*: accompaniment (:func:`_accompaniment`: chords in the key on piano, guitar,
strings or pad with attack/decay/sustain/release envelopes, a bass line, drums) at a
vocal-to-accompaniment RMS ratio; room reverb (amount r in [0, 1]: an exponentially
decaying, darkened noise tail with early reflections, RT60 = 0.2 + 1.8 r s,
reverberant-to-direct energy ratio 2 r); a recording chain (:func:`_recording_chain`:
microphone EQ and background noise); a faint noise floor; a peak level; 16-bit.

Labels (the vowel-onset convention)
-----------------------------------
Notes carry their onset and offset in seconds and the nominal integer MIDI pitch.
A note starts where its vowel starts: any leading consonant lies before the onset,
after silence and inside legato lines alike (between two connected notes the
consonant ends at the second note's onset). In a melisma (a connected note on the
previous note's vowel) the onset is the centre of the pitch glide to the new note. A
note ends where its voiced part ends: at the end of its release, where an unvoiced
consonant before the next note starts, or, when the next note follows through a voiced
consonant or a melisma, at the next note's onset (a shared boundary). ``Song.phonemes``
holds this timing (consonant start, vowel start, voicing end, consonant class per note),
exact to one 2.5 ms control step. The true f0 file holds the smooth f0 contour at each
frame centre (jitter and fry, which average out within a frame, are left out); a frame
is voiced where the voicing envelope is at least 10 % of full, so unvoiced consonants
are unvoiced and voiced ones (and their pitch glides) voiced. Over the middle 80 % of
every note the contour stays within 100 cents of the labelled pitch and its median
within 50 cents (``tests/test_synth.py`` checks both).

Determinism: song ``i`` of split ``s`` draws from ``numpy`` generators seeded by
``(seed, s, i)`` (separate streams for its length, the voice, the accompaniment, the
room and the recording chain), so a song does not depend on the other songs or on the
split sizes, and the voice and labels do not depend on the mix. Same arguments, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import signal

from gru_attn.errors import InputError
from gru_attn.frames import HOP, SAMPLE_RATE, num_frames
from gru_attn.notes import NoteList, midi_to_hz

SINGER_VERSION = 2  # bump whenever the rendered audio or labels change
SPLITS = ("train", "val", "test")
MIDI_LOW, MIDI_HIGH = 45, 80  # labelled pitch range
MIN_NOTE, MAX_NOTE = 0.1, 2.0  # note duration range, s
CTRL_HOP = 40  # samples per control step: all contours are built on a 2.5 ms grid
CTRL_RATE = SAMPLE_RATE / CTRL_HOP  # 400 Hz; frame k's centre is control step 8 (k + 1)
MAX_PARTIAL_HZ = 7600.0  # harmonics fade out between TAPER_HZ and this
TAPER_HZ = 6000.0
VOICED_SHAPE = 0.1  # voicing-envelope level from which a frame counts as voiced
SYNTH_CHUNK = 8000  # samples rendered at once (a multiple of CTRL_HOP)

# Major-key scale degrees (semitones) per mode, and how often each mode is drawn.
_SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10), (0, 2, 3, 5, 7, 8, 11), (0, 2, 3, 5, 7, 9, 10),
           (0, 2, 4, 7, 9))
_SCALE_P = (0.45, 0.25, 0.1, 0.1, 0.1)
# Note slots in beats and their weights; slots outside [0.12, 2] s at the tempo are dropped.
_BEATS = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
_BEAT_W = np.array([0.4, 3.0, 0.4, 3.0, 1.0, 1.5, 0.6, 0.3])
# Melodic steps in scale degrees (0 = repeated note) and their weights.
_STEPS = np.array([0, 1, 2, 3, 4, 5, 7])
_STEP_W = np.array([0.17, 0.45, 0.2, 0.08, 0.05, 0.03, 0.02])
# Vowel formants F1-F3 (Hz) of an adult low voice: a, e, E, i, o, O, u, schwa, ae.
_VOWELS = np.array([[730, 1090, 2440], [400, 2000, 2550], [530, 1840, 2480], [270, 2290, 3010],
                    [500, 850, 2450], [570, 840, 2410], [300, 870, 2240], [500, 1500, 2500],
                    [660, 1720, 2410]], dtype=np.float64)
# Syllable onsets: none (vowel / melisma), nasal (m, n), unvoiced fricative (s, sh, f),
# plosive, aspirate (h), voiced fricative (z, v), liquid or glide (l, r, w, j).
_NONE, _NASAL, _FRICATIVE, _PLOSIVE, _ASPIRATE, _VFRICATIVE, _LIQUID = range(7)
_ONSET_P = np.array([0.15, 0.2, 0.2, 0.15, 0.08, 0.1, 0.12])
_UNVOICED = (_FRICATIVE, _PLOSIVE, _ASPIRATE)  # consonants that silence the voicing
_KIND_NAMES = ("none", "nasal", "fricative", "plosive", "aspirate", "voiced_fricative", "liquid")
# Noise classes: pass band (Hz) and level range (dB re. the note's voice level).
_NOISES = {"s": ((3800, 7600), (-12, -4)), "sh": ((1800, 6000), (-12, -5)), "f": ((1000, 7600), (-22, -14)),
           "h": ((400, 3500), (-20, -12)), "burst": ((300, 7600), (-8, 0)), "breath": ((500, 3000), (-36, -26)),
           "z": ((3500, 7600), (-22, -12)), "v": ((1000, 6000), (-30, -20))}
# Phonation types: modal, breathy, belt, falsetto, and how often each is drawn.
_PHONATIONS = ("modal", "breathy", "belt", "falsetto")
_PHONATION_P = (0.55, 0.17, 0.14, 0.14)


@dataclass(frozen=True)
class Phonemes:
    """The synthesiser's own timing of every note's syllable, (n,) arrays aligned with the notes (s).

    ``consonant_start``: start of the note's leading consonant (== ``vowel_start`` when
    there is none); ``vowel_start``: where the note's vowel (or, in a melisma, the move
    to the new pitch) starts; ``voicing_end``: where the note's voiced part ends;
    ``kind``: consonant class (``"none"``, ``"nasal"``, ``"fricative"``, ``"plosive"``,
    ``"aspirate"``, ``"voiced_fricative"``, ``"liquid"``); ``connected``: the note
    follows the previous one without a rest (legato); ``melisma``: connected and on the
    previous note's vowel (no consonant).
    """

    consonant_start: np.ndarray
    vowel_start: np.ndarray
    voicing_end: np.ndarray
    kind: tuple
    connected: np.ndarray
    melisma: np.ndarray


@dataclass(frozen=True)
class Song:
    """One rendered song: ``pcm`` (N,) int16 at 16 kHz, its notes, the true f0 (T,) Hz per frame,
    the syllable timing behind the labels, the drawn recording conditions (``info``: JSON-ready)
    and, when asked for, the float ``stems`` (``"voice"`` and ``"accompaniment"``, (N,), before the room).
    """

    name: str
    pcm: np.ndarray
    notes: NoteList
    f0: np.ndarray
    phonemes: Phonemes | None = None
    info: dict = field(default_factory=dict)
    stems: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Singer:
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
class _Score:
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


@dataclass(frozen=True)
class _Articulation:
    """Per-note performance parameters, all (n,) arrays (seconds, cents, dB) unless noted."""

    onset_kind: np.ndarray  # one of _NONE ... _LIQUID
    noise: list  # noise class name of the onset consonant (or "")
    noise_db: np.ndarray
    vowels: np.ndarray  # (n, 2, 3) formant targets of the note's first and second vowel, Hz
    diphthong: np.ndarray  # fraction of the note after which the second vowel starts
    tune: np.ndarray  # intonation error, cents
    glide: np.ndarray  # portamento width: centred on the onset in a melisma, ending at it after a consonant
    settle: np.ndarray  # scoop (after silence) or overshoot (after a glide) size, cents
    settle_tau: np.ndarray
    fall: np.ndarray  # pitch fall at a release, cents
    fall_len: np.ndarray
    vib_depth: np.ndarray  # cents, peak
    vib_delay: np.ndarray
    vib_ramp: np.ndarray
    vib_rate: np.ndarray  # Hz
    gap: np.ndarray  # unvoiced consonant ending at the onset (connected notes): no voicing
    dip: np.ndarray  # voiced consonant ending at the onset (connected notes): a voicing dip
    dip_depth: np.ndarray  # voicing level at the bottom of the dip (or of a voiced lead)
    lead: np.ndarray  # length of a consonant ending at the onset (after silence)
    fry: np.ndarray  # length of vocal fry before the release (phrase ends; 0 = none)
    attack: np.ndarray
    release: np.ndarray
    level_db: np.ndarray
    slope_db: np.ndarray  # level change across the note
    breath: np.ndarray  # length of a breath ending 0.1 s before the onset (0 = none)
    breath_db: np.ndarray


# --------------------------------------------------------------------------- small helpers


def _span(t0: float, t1: float, n_ctl: int) -> slice:
    """Control steps k with t0 <= k / CTRL_RATE < t1, clipped to [0, n_ctl)."""
    k0 = min(max(int(np.ceil(t0 * CTRL_RATE)), 0), n_ctl)
    k1 = min(max(int(np.ceil(t1 * CTRL_RATE)), k0), n_ctl)
    return slice(k0, k1)


def _rise(u) -> np.ndarray:
    """Raised-cosine step: 0 for u <= 0, 1 for u >= 1."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def _upsample(x: np.ndarray, n: int) -> np.ndarray:
    """Control-grid values (n_ctl,) -> (n,) samples by linear interpolation (step k = sample 40 k)."""
    return np.interp(np.arange(n) / CTRL_HOP, np.arange(len(x)), x)


def _smooth(x: np.ndarray, seconds: float) -> np.ndarray:
    """Smooth (..., n_ctl) rows with a unit-sum Hann window of ``seconds``, edges held."""
    width = max(3, int(seconds * CTRL_RATE) | 1)
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    pad = [(0, 0)] * (x.ndim - 1) + [(width // 2, width // 2)]
    padded = np.pad(x, pad, mode="edge")
    return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="valid"), -1, padded)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


@lru_cache(maxsize=None)
def _band(low: float, high: float) -> np.ndarray:
    """Second-order Butterworth band-pass ``low``-``high`` Hz as SOS."""
    return signal.butter(2, (low, high), btype="bandpass", fs=SAMPLE_RATE, output="sos")


def _band_noise(rng: np.random.Generator, band: tuple, n: int) -> np.ndarray:
    """(n,) white noise filtered to ``band`` (Hz), scaled to unit RMS."""
    x = signal.sosfilt(_band(*band), rng.standard_normal(n))
    return x / max(_rms(x), 1e-12)


# --------------------------------------------------------------------------- singer and score


def _draw_singer(rng: np.random.Generator) -> _Singer:
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
    return _Singer(
        low=int(max(MIDI_LOW, round(centre - half))), high=int(min(MIDI_HIGH, round(centre + half))),
        formant_scale=scale, upper_formants=upper,
        bandwidths=np.array([rng.uniform(50, 100), rng.uniform(70, 130), rng.uniform(100, 180),
                             rng.uniform(150, 250), rng.uniform(200, 300)]),
        vib_rate=rng.uniform(4.5, 7.0), vib_depth=rng.uniform(20.0, 80.0), amp_vib_db=rng.uniform(0.3, 2.0),
        tilt=tilt, h1_gain=h1, breath_db=breath,
        jitter=rng.uniform(0.002, 0.006), shimmer_db=rng.uniform(0.2, 0.8), phonation=phonation,
        fry=rng.choice([0.0, rng.uniform(0.3, 0.8)], p=[0.7, 0.3]), dynamics_db=rng.uniform(1.0, 2.5))


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


def _compose(rng: np.random.Generator, singer: _Singer, seconds: float) -> _Score:
    """A melody of about ``seconds``: phrases of notes in a key, with rests between phrases."""
    tempo = rng.uniform(60.0, 160.0)
    beat = 60.0 / tempo
    scale = _SCALES[rng.choice(len(_SCALES), p=_SCALE_P)]
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
    return _Score(np.array(onset), np.array(offset), np.array(midi), np.array(connected), np.array(melisma),
                  tonic, scale, tempo, end=offset[-1] + rng.uniform(0.3, 1.0))


def _articulate(rng: np.random.Generator, score: _Score, singer: _Singer) -> _Articulation:
    """Draw every note's performance parameters, bounded so each note's labels stay true.

    A connected note's consonant ends at its onset and takes at most 20 % (unvoiced: the
    previous note's label ends where it starts) or 10 % (voiced) of the previous note; a
    melisma's glide is centred on the onset and takes at most 10 % of either note;
    scoops and overshoots decay within the first 10 % of the note, vocal fry fills at
    most the last 10 %.
    """
    n = len(score.onset)

    def u(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    dur = score.offset - score.onset
    prev_dur = np.r_[np.inf, dur[:-1]]
    prev_midi = np.r_[-1, score.midi[:-1]]
    next_connected = np.r_[score.connected[1:], False]
    silence = score.onset - np.r_[0.0, score.offset[:-1]]  # before each note (0 when connected)
    same = score.connected & (score.midi == prev_midi)
    kind = rng.choice(len(_ONSET_P), size=n, p=_ONSET_P)
    consonant = rng.choice(len(_ONSET_P) - 1, size=n, p=_ONSET_P[1:] / _ONSET_P[1:].sum()) + 1
    kind = np.where(same & (kind == _NONE), consonant, kind)  # a repeated note is a new syllable
    kind = np.where(score.melisma, _NONE, kind)
    fricative, voiced_fricative = rng.choice(["s", "sh", "f"], size=n), rng.choice(["z", "v"], size=n)
    noise = [{_FRICATIVE: str(fricative[i]), _VFRICATIVE: str(voiced_fricative[i]), _PLOSIVE: "burst",
              _ASPIRATE: "h"}.get(int(k), "") for i, k in enumerate(kind)]
    noise_db = np.array([rng.uniform(*_NOISES[c][1]) if c else 0.0 for c in noise])

    vowel = rng.integers(len(_VOWELS), size=(n, 2))
    for i in range(1, n):  # a melisma (connected, no consonant) keeps the vowel
        if score.connected[i] and kind[i] == _NONE:
            vowel[i, 0] = vowel[i - 1, 1]
    vowels = _VOWELS[vowel] * singer.formant_scale * rng.uniform(0.95, 1.05, (n, 2, 3))
    diphthong = np.where(rng.random(n) < 0.2, u(0.5, 0.8), 1.0)

    unvoiced, voiced = np.isin(kind, _UNVOICED), np.isin(kind, (_NASAL, _VFRICATIVE, _LIQUID))
    gap = np.where(score.connected & unvoiced, np.minimum(u(0.03, 0.08), 0.2 * prev_dur), 0.0)
    dip = np.where(score.connected & voiced,
                   np.minimum(np.where(kind == _LIQUID, u(0.05, 0.12), u(0.04, 0.1)), 0.1 * prev_dur), 0.0)
    changes = score.connected & ~same
    melisma = score.connected & (kind == _NONE)
    glide = np.where(changes, np.where(melisma, np.minimum(u(0.04, 0.16), 0.2 * np.minimum(dur, prev_dur)),
                                       gap + dip), 0.0)
    settle_tau = np.minimum(u(0.015, 0.05), dur / 40)
    scoop = np.where(rng.random(n) < 0.7, -u(30, 150), np.where(rng.random(n) < 0.33, u(20, 60), 0.0))
    overshoot = np.sign(score.midi - prev_midi) * u(0, 35)
    settle = np.where(score.connected, np.where(changes, overshoot, 0.0), scoop)
    fall = np.where(~next_connected & (rng.random(n) < 0.3), u(20, 150), 0.0)
    next_silence = np.r_[score.onset[1:] - score.offset[:-1], np.inf]
    fry = np.where(~next_connected & (next_silence >= 0.2) & (rng.random(n) < singer.fry),
                   np.minimum(u(0.08, 0.25), 0.1 * dur), 0.0)

    level = _phrase_levels(rng, score, silence, singer.dynamics_db)
    lead_len = np.select([np.isin(kind, (_FRICATIVE, _ASPIRATE)), kind == _PLOSIVE, voiced],
                         [u(0.05, 0.12), u(0.02, 0.04), u(0.04, 0.1)], 0.0)
    # after a rest: the consonant fits in the rest (a detached note's rest is at least 16 ms)
    lead = np.where(~score.connected & (kind != _NONE),
                    np.minimum(lead_len, np.maximum(silence - 0.02, silence / 2)), 0.0)
    breath = np.where(~score.connected & (silence >= 0.45) & (rng.random(n) < 0.5),
                      np.minimum(u(0.2, 0.45), silence - 0.25), 0.0)
    dip_depth = np.select([kind == _LIQUID, kind == _VFRICATIVE], [u(0.5, 0.85), u(0.2, 0.5)], u(0.15, 0.45))
    voiced_lead = (lead > 0) & voiced
    return _Articulation(
        onset_kind=kind, noise=noise, noise_db=noise_db, vowels=vowels, diphthong=diphthong,
        tune=np.clip(rng.normal(0.0, 4.0, n), -10.0, 10.0), glide=glide, settle=settle, settle_tau=settle_tau,
        fall=fall, fall_len=np.minimum(u(0.03, 0.08), 0.1 * dur),
        vib_depth=singer.vib_depth * u(0.8, 1.0), vib_delay=np.maximum(u(0.1, 0.35), glide / 2 + 3 * settle_tau),
        vib_ramp=u(0.15, 0.4), vib_rate=singer.vib_rate * u(0.95, 1.05),
        gap=gap, dip=dip, dip_depth=dip_depth, lead=lead, fry=fry,
        attack=np.where(score.connected, 0.0,
                        np.minimum(np.where(voiced_lead, u(0.02, 0.05), u(0.01, 0.05)), 0.25 * dur)),
        release=np.where(next_connected, 0.0, np.minimum(u(0.02, 0.08), 0.25 * dur)),
        level_db=level, slope_db=np.where(dur > 0.5, u(-4, 3), 0.0), breath=breath,
        breath_db=u(*_NOISES["breath"][1]))


def _phrase_levels(rng: np.random.Generator, score: _Score, silence: np.ndarray, spread: float) -> np.ndarray:
    """(n,) note levels in dB: per-phrase base and arch, louder high notes, random accents;
    ``spread`` (about 1-2.5) widens the dynamics."""
    n = len(score.onset)
    new_phrase = ~score.connected & (silence >= 0.2)
    new_phrase[0] = True
    phrase = np.cumsum(new_phrase) - 1
    first = np.maximum.accumulate(np.where(new_phrase, np.arange(n), 0))
    length = np.bincount(phrase)[phrase]
    position = (np.arange(n) - first) / np.maximum(length - 1, 1)
    base, arch = rng.uniform(-4, 2, phrase[-1] + 1) * spread, rng.uniform(-2, 4, phrase[-1] + 1)
    return (base[phrase] + arch[phrase] * np.sin(np.pi * position) + 0.3 * (score.midi - score.midi.mean())
            + rng.normal(0.0, spread, n))


def _phonemes(score: _Score, art: _Articulation) -> tuple[Phonemes, np.ndarray]:
    """The syllable timing of every note and the labelled offsets (n,) in s.

    A note whose successor starts after an unvoiced consonant ends where that
    consonant starts (its voicing ends there); every other offset is the score's.
    """
    consonant_start = score.onset - (art.gap + art.dip + art.lead)
    offset = score.offset.copy()
    cut = np.flatnonzero(art.gap[1:] > 0)
    offset[cut] = consonant_start[cut + 1]
    melisma = score.connected & (art.onset_kind == _NONE)
    phonemes = Phonemes(consonant_start=consonant_start, vowel_start=score.onset.copy(), voicing_end=offset.copy(),
                        kind=tuple(_KIND_NAMES[k] for k in art.onset_kind), connected=score.connected.copy(),
                        melisma=melisma)
    return phonemes, offset


# --------------------------------------------------------------------------- control tracks


def _pitch_track(score: _Score, art: _Articulation, drift: np.ndarray, n_ctl: int):
    """Smooth f0 contour on the control grid.

    Returns ``(midi, vib_env, vib_phase)``: (n_ctl,) fractional MIDI (held through
    rests), the vibrato depth in cents and its phase in radians.
    """
    t = np.arange(n_ctl) / CTRL_RATE
    target = score.midi + art.tune / 100
    current = np.clip(np.searchsorted(score.onset, t, side="right") - 1, 0, len(target) - 1)
    midi = target[current]
    cents = drift.copy()
    vib_env = np.zeros(n_ctl)
    rate = np.full(n_ctl, float(np.median(art.vib_rate)))
    for i, (on, off) in enumerate(zip(score.onset, score.offset)):
        dur, g = off - on, art.glide[i]
        g0 = on - g / 2 if art.onset_kind[i] == _NONE else on - g  # melisma: centred; else during the consonant
        if g > 0:
            sl = _span(g0, g0 + g, n_ctl)
            midi[sl] = target[i - 1] + (target[i] - target[i - 1]) * _rise((t[sl] - g0) / g)
        tau = art.settle_tau[i]
        if art.settle[i] != 0:
            start = g0 + g
            sl = _span(start, min(start + 8 * tau, off), n_ctl)
            x = (t[sl] - start) / tau
            shape = x * np.exp(1.0 - x) if score.connected[i] else np.exp(-x)
            cents[sl] += art.settle[i] * shape
        if art.fall[i] > 0:
            sl = _span(off - art.fall_len[i], off, n_ctl)
            cents[sl] -= art.fall[i] * ((t[sl] - off + art.fall_len[i]) / art.fall_len[i]) ** 2
        sl = _span(on, off, n_ctl)
        grow = _rise((t[sl] - on - art.vib_delay[i]) / art.vib_ramp[i])
        fade = np.clip((off - t[sl]) / min(0.08, 0.1 * dur), 0.0, 1.0)
        vib_env[sl] = art.vib_depth[i] * grow * fade
        rate[sl] = art.vib_rate[i]
    vib_phase = 2 * np.pi * np.cumsum(rate) / CTRL_RATE
    return midi + (cents + vib_env * np.sin(vib_phase)) / 100, vib_env, vib_phase


def _voicing_track(score: _Score, art: _Articulation, n_ctl: int):
    """Voicing envelope in [0, 1] and nasal weight in [0, 1], both (n_ctl,).

    The envelope is 0 outside notes and voiced leads, 0 inside unvoiced consonants (with
    5 ms edges outside them: voicing stops where the consonant starts and restarts at the
    vowel), ramps over attacks and releases, dips over voiced consonants and murmurs over
    voiced leads; the nasal weight marks nasal consonants (where higher harmonics are damped).
    """
    t = np.arange(n_ctl) / CTRL_RATE
    shape, nasal = np.zeros(n_ctl), np.zeros(n_ctl)
    for i, (on, off) in enumerate(zip(score.onset, score.offset)):
        kind, depth = art.onset_kind[i], art.dip_depth[i]
        sl = _span(on, off, n_ctl)
        x = t[sl] - on
        env = np.ones(len(x))
        lead = art.lead[i]
        voiced_lead = lead > 0 and kind in (_NASAL, _VFRICATIVE, _LIQUID)
        if voiced_lead:  # a voiced consonant's murmur before the vowel
            ls = _span(on - lead, on, n_ctl)
            shape[ls] = depth * _rise((t[ls] - on + lead) / min(0.015, lead))
            if kind == _NASAL:
                nasal[ls] = 1.0
        if art.attack[i] > 0:
            rise = _rise(x / art.attack[i])
            env *= depth + (1.0 - depth) * rise if voiced_lead else rise
            if voiced_lead and kind == _NASAL:
                nasal[sl] = 1.0 - rise
        if art.release[i] > 0:
            env *= _rise((off - t[sl]) / art.release[i])
        shape[sl] = env
        if art.gap[i] > 0:  # unvoiced consonant over [on - gap, on]
            c0, c1 = on - art.gap[i] - 0.005, on + 0.005
            gs = _span(c0, c1, n_ctl)
            edge = np.minimum(t[gs] - c0, c1 - t[gs])
            shape[gs] *= 1.0 - _rise(edge / 0.005)
        if art.dip[i] > 0:  # voiced consonant over [on - dip, on]: a Hann-shaped dip
            ds = _span(on - art.dip[i], on, n_ctl)
            weight = np.sin(np.pi * (t[ds] - on + art.dip[i]) / art.dip[i]) ** 2
            shape[ds] *= 1.0 - (1.0 - depth) * weight
            if kind == _NASAL:
                nasal[ds] = np.maximum(nasal[ds], weight)
    return shape, nasal


def _level_track(rng: np.random.Generator, score: _Score, art: _Articulation, singer: _Singer,
                 vib_env: np.ndarray, vib_phase: np.ndarray) -> np.ndarray:
    """(n_ctl,) voice level in dB: note levels and slopes, shimmer and amplitude vibrato."""
    n_ctl = len(vib_env)
    t = np.arange(n_ctl) / CTRL_RATE
    current = np.clip(np.searchsorted(score.onset, t, side="right") - 1, 0, len(score.onset) - 1)
    dur = (score.offset - score.onset)[current]
    progress = np.clip((t - score.onset[current]) / dur, 0.0, 1.0)
    level = art.level_db[current] + art.slope_db[current] * progress
    level += rng.normal(0.0, singer.shimmer_db, n_ctl)
    return level + singer.amp_vib_db * (vib_env / 80.0) * np.sin(vib_phase + 0.5)


def _formant_track(rng: np.random.Generator, score: _Score, art: _Articulation, singer: _Singer,
                   f0_hz: np.ndarray) -> np.ndarray:
    """(5, n_ctl) formant frequencies in Hz: vowel targets per note, smoothed across syllables."""
    n_ctl = len(f0_hz)
    t = np.arange(n_ctl) / CTRL_RATE
    current = np.clip(np.searchsorted(score.onset, t, side="right") - 1, 0, len(score.onset) - 1)
    dur = (score.offset - score.onset)[current]
    second = (t - score.onset[current]) >= art.diphthong[current] * dur
    low = art.vowels[current, second.astype(int)].T  # (3, n_ctl)
    low = _smooth(low, rng.uniform(0.04, 0.1))
    f4, f5 = singer.upper_formants
    low[0] = np.maximum(low[0], 1.1 * f0_hz)  # high notes: F1 follows f0
    low[1] = np.maximum(low[1], low[0] + 150.0)
    low[2] = np.clip(low[2], low[1] + 200.0, f4 - 200.0)
    return np.vstack([low, np.array([[f4], [f5]]) * np.ones(n_ctl)])


def _harmonic_gains(f0_hz: np.ndarray, formants: np.ndarray, singer: _Singer, nasal: np.ndarray) -> np.ndarray:
    """(H, n_ctl) float32 amplitude of harmonics 1..H per control step (before the level).

    Source tilt ``h ** -tilt`` (steeper in nasal stretches) times the magnitude of the
    five formant resonances at ``h * f0``, faded to 0 between 6.0 and 7.6 kHz.
    """
    n_harm = int(MAX_PARTIAL_HZ // max(f0_hz.min(), 1.0))
    h = np.arange(1, n_harm + 1, dtype=np.float64)[:, None]
    f = h * f0_hz[None, :]
    gain = h ** -(singer.tilt + 1.0 * nasal[None, :])
    gain[0] *= singer.h1_gain
    for k in range(5):
        fk, half_bw = formants[k][None, :], singer.bandwidths[k] / 2
        gain *= (fk ** 2 + half_bw ** 2) / np.sqrt(((f - fk) ** 2 + half_bw ** 2) * ((f + fk) ** 2 + half_bw ** 2))
    gain *= 1.0 - _rise((f - TAPER_HZ) / (MAX_PARTIAL_HZ - TAPER_HZ))
    return gain.astype(np.float32)


# --------------------------------------------------------------------------- rendering


def _render_harmonics(amps: np.ndarray, cycles: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Sum of harmonics: (n,) float32 from ``amps`` (H, n_ctl) on the control grid, the
    running fundamental phase ``cycles`` (n,) in cycles and per-harmonic phases (H,) rad.

    Amplitudes are interpolated linearly between control steps; silent chunks are skipped.
    """
    n = len(cycles)
    theta = (2 * np.pi * (cycles - np.floor(cycles))).astype(np.float32)
    h = np.arange(1, len(amps) + 1, dtype=np.float32)[:, None]
    ramp = (np.arange(CTRL_HOP, dtype=np.float32) / CTRL_HOP)[None, None, :]
    out = np.zeros(n, dtype=np.float32)
    for start in range(0, n, SYNTH_CHUNK):
        stop = min(n, start + SYNTH_CHUNK)
        k0, k1 = start // CTRL_HOP, -(-stop // CTRL_HOP)
        a = amps[:, k0:k1 + 1]
        audible = np.flatnonzero(a.max(axis=1) > 0)
        if not len(audible):
            continue
        a = a[: audible[-1] + 1]
        a_s = (a[:, :-1, None] + (a[:, 1:] - a[:, :-1])[:, :, None] * ramp).reshape(len(a), -1)[:, : stop - start]
        waves = np.sin(h[: len(a)] * theta[None, start:stop] + phases[: len(a), None])
        out[start:stop] = np.einsum("hn,hn->n", a_s, waves)
    return out


def _noise_envelopes(score: _Score, art: _Articulation, level_db: np.ndarray) -> dict:
    """{noise class: (n_ctl,) amplitude envelope} of consonants and breaths, relative to the voice."""
    n_ctl = len(level_db)
    t = np.arange(n_ctl) / CTRL_RATE
    envs = {}

    def add(kind: str, t0: float, t1: float, db: float, decay: bool = False):
        sl = _span(t0, t1, n_ctl)
        if sl.stop > sl.start:
            x = (t[sl] - t0) / (t1 - t0)
            shape = np.exp(-x * (t1 - t0) / 0.007) if decay else np.sin(np.pi * x)
            env = envs.setdefault(kind, np.zeros(n_ctl))
            env[sl] += 10 ** ((level_db[sl] + db) / 20) * shape

    for i, on in enumerate(score.onset):
        kind, db = art.noise[i], art.noise_db[i]
        length = art.gap[i] + art.dip[i] + art.lead[i]  # the consonant is [on - length, on]
        if kind == "burst":  # release of the closure just before the vowel
            add(kind, on - 0.015, on + 0.01, db, decay=True)
        elif kind and length > 0:
            add(kind, on - length - 0.005, on + 0.005, db)
        if art.breath[i] > 0:
            add("breath", on - 0.1 - art.breath[i], on - 0.1, art.breath_db[i])
    return envs


def _fry_weight(score: _Score, art: _Articulation, n_ctl: int) -> np.ndarray:
    """(n_ctl,) weight in [0, 1] of vocal fry, which fades in over the last ``art.fry`` s of a note."""
    t = np.arange(n_ctl) / CTRL_RATE
    weight = np.zeros(n_ctl)
    for off, length in zip(score.offset, art.fry):
        if length > 0:
            sl = _span(off - length, off, n_ctl)
            weight[sl] = _rise((t[sl] - off + length) / 0.03)
    return weight


def _voice(rng: np.random.Generator, score: _Score, singer: _Singer, n: int):
    """Render the dry voice -> ((n,) float64 audio, (n_ctl,) f0 in Hz, (n_ctl,) voicing envelope,
    :class:`Phonemes`, (n_notes,) labelled offsets in s)."""
    n_ctl = n // CTRL_HOP + 2
    art = _articulate(rng, score, singer)
    phonemes, offsets = _phonemes(score, art)
    t = np.arange(n_ctl) / CTRL_RATE
    drift = sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in
                zip(rng.uniform(0, 4 / 3, 3), rng.uniform(0.05, 0.8, 3), rng.uniform(0, 2 * np.pi, 3)))
    midi, vib_env, vib_phase = _pitch_track(score, art, drift, n_ctl)
    f0_hz = midi_to_hz(midi)
    shape, nasal = _voicing_track(score, art, n_ctl)
    level_db = _level_track(rng, score, art, singer, vib_env, vib_phase)
    fry = _fry_weight(score, art, n_ctl)  # irregular, low glottal pulses: f0 and level jump per step
    amp = shape * 10 ** (level_db / 20) * (1.0 - 0.6 * fry * rng.random(n_ctl))
    gains = _harmonic_gains(f0_hz, _formant_track(rng, score, art, singer, f0_hz), singer, nasal)
    f0_jittered = f0_hz * (1.0 + rng.normal(0.0, singer.jitter, n_ctl)) * (1.0 - fry * rng.uniform(0.3, 0.7, n_ctl))
    cycles = np.cumsum(_upsample(f0_jittered, n) / SAMPLE_RATE)
    phases = rng.uniform(0, 2 * np.pi, len(gains)).astype(np.float32)
    harmonic = _render_harmonics(gains * amp[None, :].astype(np.float32), cycles, phases).astype(np.float64)
    amp_s = _upsample(amp, n)
    ref = _rms(harmonic) / max(_rms(amp_s), 1e-12)  # harmonic output per unit of amplitude
    pulse = 0.4 + 0.6 * (0.5 + 0.5 * np.cos(2 * np.pi * cycles)) ** 2  # aspiration is pulsed at f0
    voice = harmonic + ref * 10 ** (singer.breath_db / 20) * amp_s * pulse * _band_noise(rng, (1500, 6500), n)
    for kind, env in sorted(_noise_envelopes(score, art, level_db).items()):
        voice += ref * _upsample(env, n) * _band_noise(rng, _NOISES[kind][0], n)
    return voice, f0_hz, shape, phonemes, offsets


_CHORD_STYLES = ("piano", "guitar", "strings", "pad")
# Tone models: harmonic roll-off exponent, attack (s), release (s), decay time of harmonic 1 (s; inf =
# sustained) and how fast upper harmonics decay faster, inharmonicity, most harmonics.
_TONES = {"piano": (1.2, 0.004, 0.12, 1.5, 0.7, 2e-4, 16), "guitar": (1.0, 0.002, 0.06, 0.9, 0.9, 5e-5, 16),
          "strings": (1.0, 0.15, 0.25, np.inf, 0.0, 0.0, 16), "pad": (1.8, 0.4, 0.4, np.inf, 0.0, 0.0, 10),
          "bass": (1.5, 0.006, 0.06, 0.9, 0.8, 1e-4, 8)}


def _accompaniment(rng: np.random.Generator, score: _Score, n: int) -> tuple[np.ndarray, dict]:
    """(n,) accompaniment in the song's key and tempo, unit RMS, and what it holds (JSON-ready).

    Layers, each normalised then mixed at a drawn level: chords (piano, guitar, strings
    or pad: block chords, strums, arpeggios or held chords under the melody, MIDI 48-59),
    a bass line (roots and fifths, MIDI 31-42; most songs) and drums (kick, snare and
    hi-hat noise bursts on the beat; about half the songs).
    """
    beat = 60.0 / score.tempo
    meter = 3 if rng.random() < 0.25 else 4
    bar = beat * meter
    steps = score.scale if len(score.scale) == 7 else _SCALES[0]
    style = str(rng.choice(_CHORD_STYLES))
    pattern = str(rng.choice(["block", "arpeggio"] if style in ("piano", "guitar") else ["held"]))
    has_bass, has_drums = rng.random() < 0.8, rng.random() < 0.5
    chords, bass = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    degree, t = 0, 0.0
    while t < n / SAMPLE_RATE:
        length = bar * rng.choice([1, 2], p=[0.7, 0.3])
        pcs = [(score.tonic + steps[(degree + k) % 7]) % 12 for k in (0, 2, 4)]
        chord = [48 + (pc - 48) % 12 for pc in pcs]
        if pattern == "held":
            events = [(t, length, m) for m in chord]
        elif pattern == "arpeggio":
            order = chord + [chord[1]]
            events = [(t + k * beat / 2, beat, order[k % 4]) for k in range(int(round(length / beat * 2)))]
        else:  # block chords on every beat (struck) or every two beats; guitar strums spread the notes
            every = beat * rng.choice([1, 2])
            spread = 0.012 if style == "guitar" else 0.0
            events = [(s + k * spread, every, m) for s in np.arange(t, t + length - 1e-9, every)
                      for k, m in enumerate(chord)]
        for start, dur, m in events:
            _add_tone(rng, chords, start, dur, m, style)
        if has_bass:
            root = 31 + (pcs[0] - 31) % 12
            half = length / 2
            for start, m in ((t, root), (t + half, root + 7 if rng.random() < 0.5 else root)):
                _add_tone(rng, bass, start, half * 0.9, m, "bass")
        degree = int(rng.choice([d for d in (0, 1, 3, 4, 5) if d != degree]))
        t += length
    layers = {"chords": chords}
    if has_bass:
        layers["bass"] = bass
    if has_drums:
        layers["drums"] = _drums(rng, n, beat, meter)
    gains = {"chords": 0.0, "bass": rng.uniform(-6.0, 0.0), "drums": rng.uniform(-10.0, -2.0)}
    out = sum(layer.astype(np.float64) / max(_rms(layer), 1e-12) * 10 ** (gains[name] / 20)
              for name, layer in layers.items())
    return out / max(_rms(out), 1e-12), {"style": style, "pattern": pattern, "layers": sorted(layers)}


def _add_tone(rng: np.random.Generator, out: np.ndarray, start: float, dur: float, midi: int, style: str):
    """Add one note of ``style`` (see ``_TONES``) into ``out`` (float32): additive partials with
    an attack, a per-partial exponential decay (struck and plucked styles) or a sustain, and a release."""
    roll, attack, release, tau1, tau_exp, inharm, max_h = _TONES[style]
    s0 = int(start * SAMPLE_RATE)
    length = min(int((dur + release) * SAMPLE_RATE), len(out) - s0)
    if length <= 0:
        return
    f = float(midi_to_hz(midi))
    h = np.arange(1, max(2, min(max_h, int(MAX_PARTIAL_HZ // f))) + 1, dtype=np.float32)[:, None]
    t = (np.arange(length, dtype=np.float32) / SAMPLE_RATE)[None, :]  # float32: envelopes only
    env = h ** -roll * _rise(t / attack) * _rise((dur + release - t) / release)
    if style == "guitar":  # plucking point: a comb over the partials
        env = env * np.abs(np.sin(np.pi * h * rng.uniform(0.1, 0.3)))
    if np.isfinite(tau1):
        env = env * np.exp(-t / (tau1 / h ** tau_exp))
    fh = f * h * np.sqrt(1 + inharm * h ** 2)
    seconds = np.arange(length) / SAMPLE_RATE
    if style == "strings":  # a gentle vibrato (5-6 Hz, about 8 cents)
        rate = rng.uniform(5.0, 6.0)
        seconds = seconds - 0.0046 * np.cos(2 * np.pi * rate * seconds) / (2 * np.pi * rate)
    cycles = np.outer(fh, seconds)  # float64 phase, reduced before float32 sin
    phases = rng.uniform(0, 2 * np.pi, (len(h), 1)).astype(np.float32)
    angle = (2 * np.pi * (cycles - np.floor(cycles))).astype(np.float32) + phases
    out[s0:s0 + length] += np.einsum("hn,hn->n", env.astype(np.float32), np.sin(angle))


def _drums(rng: np.random.Generator, n: int, beat: float, meter: int) -> np.ndarray:
    """(n,) float32 drum track: kick on beat 1 (and 3 in 4/4), snare on the back beats, hi-hat on
    every half beat; each hit a noise burst or swept sine with a drawn level."""
    def seconds(length):
        return np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE

    tk, ts, th = seconds(0.3), seconds(0.2), seconds(0.06)
    sweep = 45.0 * tk + 100.0 * 0.03 * (1 - np.exp(-tk / 0.03))  # cycles of a 145 -> 45 Hz sweep
    kick = np.sin(2 * np.pi * sweep) * np.exp(-tk / rng.uniform(0.08, 0.16))
    snare = (_band_noise(rng, (1000, 7000), len(ts)) * np.exp(-ts / rng.uniform(0.05, 0.1))
             + 0.6 * np.sin(2 * np.pi * rng.uniform(170, 230) * ts) * np.exp(-ts / 0.04))
    hat = 0.5 * _band_noise(rng, (6000, 7600), len(th)) * np.exp(-th / rng.uniform(0.01, 0.025))
    out = np.zeros(n)
    hits = []
    for k in range(int(n / SAMPLE_RATE / (beat / 2)) + 1):
        start, position = k * beat / 2, (k // 2) % meter
        hits.append((start, hat))
        if k % 2 == 0 and (position == 0 or (meter == 4 and position == 2)):
            hits.append((start, kick))
        if k % 2 == 0 and position in ((1, 3) if meter == 4 else (1, 2)):
            hits.append((start, snare))
    velocity = rng.uniform(0.6, 1.0, len(hits))
    for (start, sound), v in zip(hits, velocity):
        s0 = int(start * SAMPLE_RATE)
        m = min(len(sound), n - s0)
        if m > 0:
            out[s0:s0 + m] += v * sound[:m]
    return out.astype(np.float32)


def _reverb(rng: np.random.Generator, x: np.ndarray, amount: float) -> np.ndarray:
    """Room reverb of ``amount`` in (0, 1]: RT60 0.2 + 1.8 * amount s, reverberant/direct energy 2 * amount."""
    rt60 = 0.2 + 1.8 * amount
    length = int(min(1.2 * rt60, 3.0) * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.91 * t / rt60)
    pole = np.exp(-2 * np.pi * rng.uniform(3000.0, 6000.0) / SAMPLE_RATE)  # darker than the direct sound
    tail = signal.lfilter([1.0 - pole], [1.0, -pole], tail)
    tail[: int(rng.uniform(0.005, 0.02) * SAMPLE_RATE)] = 0.0  # pre-delay
    taps = (rng.uniform(0.003, 0.03, 6) * SAMPLE_RATE).astype(int)
    tail[taps] += rng.uniform(0.1, 0.4, 6) * rng.choice([-1.0, 1.0], 6)  # early reflections
    tail *= np.sqrt(2 * amount / np.sum(tail ** 2))
    tail[0] += 1.0  # the direct sound
    return signal.fftconvolve(x, tail)[: len(x)]


def _peaking(freq: float, gain_db: float, q: float) -> np.ndarray:
    """(1, 6) SOS of a peaking equaliser: ``gain_db`` at ``freq`` Hz, bandwidth set by ``q``."""
    amp, w0 = 10 ** (gain_db / 40), 2 * np.pi * freq / SAMPLE_RATE
    alpha, cos = np.sin(w0) / (2 * q), np.cos(w0)
    b = np.array([1 + alpha * amp, -2 * cos, 1 - alpha * amp])
    a = np.array([1 + alpha / amp, -2 * cos, 1 - alpha / amp])
    return np.r_[b / a[0], a / a[0]][None, :]


def _high_shelf(freq: float, gain_db: float) -> np.ndarray:
    """(1, 6) SOS of a high shelf (slope 1): ``gain_db`` above about ``freq`` Hz."""
    amp, w0 = 10 ** (gain_db / 40), 2 * np.pi * freq / SAMPLE_RATE
    alpha, cos, root = np.sin(w0) / np.sqrt(2), np.cos(w0), np.sqrt(amp)
    b = amp * np.array([(amp + 1) + (amp - 1) * cos + 2 * root * alpha, -2 * ((amp - 1) + (amp + 1) * cos),
                        (amp + 1) + (amp - 1) * cos - 2 * root * alpha])
    a = np.array([(amp + 1) - (amp - 1) * cos + 2 * root * alpha, 2 * ((amp - 1) - (amp + 1) * cos),
                  (amp + 1) - (amp - 1) * cos - 2 * root * alpha])
    return np.r_[b / a[0], a / a[0]][None, :]


def _recording_chain(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Microphone and room noise: (n,) signal -> (n,) recorded signal, and what was drawn (JSON-ready).

    A 2nd-order low cut at 40-150 Hz, a presence peak of 0-6 dB at 2-6 kHz, one to three
    gentle peaking filters (+-4 dB, 100 Hz-6 kHz) and a +-4 dB high shelf at 3-7 kHz
    colour the signal; white, pink or mains-hum (50/60 Hz and harmonics) noise is added
    at a signal-to-noise ratio of 20-50 dB (RMS over the song).
    """
    low_cut = rng.uniform(40.0, 150.0)
    presence = (rng.uniform(2000.0, 6000.0), rng.uniform(0.0, 6.0), rng.uniform(0.7, 1.5))
    peaks = [(float(np.exp(rng.uniform(np.log(100.0), np.log(6000.0)))), rng.uniform(-4.0, 4.0),
              rng.uniform(0.5, 2.0)) for _ in range(int(rng.integers(1, 4)))]
    shelf = (rng.uniform(3000.0, 7000.0), rng.uniform(-4.0, 4.0))
    sos = np.vstack([signal.butter(2, low_cut, btype="highpass", fs=SAMPLE_RATE, output="sos"),
                     _peaking(*presence), *[_peaking(*p) for p in peaks], _high_shelf(*shelf)])
    y = signal.sosfilt(sos, x)
    kind, snr = str(rng.choice(["white", "pink", "hum"])), rng.uniform(20.0, 50.0)
    n = len(x)
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        noise = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)), n)
    else:
        mains, t = rng.choice([50.0, 60.0]), np.arange(n) / SAMPLE_RATE
        noise = sum(np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
        noise = noise + 0.1 * rng.standard_normal(n)
    y = y + noise * _rms(y) / max(_rms(noise), 1e-12) * 10 ** (-snr / 20)
    info = {"low_cut_hz": low_cut, "presence": list(presence), "peaks": [list(p) for p in peaks],
            "shelf": list(shelf), "noise": kind, "snr_db": snr}
    return y, info


def _song_streams(seed: int, split: str, index: int) -> list[np.random.Generator]:
    """Independent generators (length, voice, accompaniment, room, recording chain) of one song."""
    children = np.random.SeedSequence([seed, SPLITS.index(split), index]).spawn(5)
    return [np.random.default_rng(c) for c in children]


def accompanied(seed: int, split: str, index: int, share: float) -> bool:
    """Whether song ``index`` of ``split`` gets accompaniment when a ``share`` in [0, 1] of songs do.

    Spread evenly over the indices from a phase drawn per (seed, split): the first k songs
    of a split hold round(k * share) accompanied ones, give or take one, so small
    validation and test splits get their share too.
    """
    phase = np.random.default_rng([seed, SPLITS.index(split)]).random()
    return bool(np.floor(phase + (index + 1) * share) > np.floor(phase + index * share))


def song_name(split: str, index: int) -> str:
    """File stem of song ``index`` of ``split``, e.g. ``train_0007``."""
    return f"{split}_{index:04d}"


def _song_length(seed: int, split: str, index: int, song_seconds=(20, 40)) -> float:
    """Target length in s of song ``index`` of ``split`` (drawn from ``song_seconds``)."""
    return float(_song_streams(seed, split, index)[0].uniform(*song_seconds))


def _draw(rng: np.random.Generator, value) -> float:
    """``value`` itself, or a uniform draw from it when it is a (lo, hi) range."""
    return float(value) if np.isscalar(value) else float(rng.uniform(*value))


def render_song(seed: int, split: str, index: int, song_seconds=(20, 40), accompaniment_db=None, reverb=0.0,
                accompaniment_share: float = 1.0, recording_chain: bool = False, keep_stems: bool = False) -> Song:
    """Synthesize song ``index`` of ``split`` -> :class:`Song` (int16 audio, notes, true f0 per
    frame, syllable timing, the drawn conditions in ``info``).

    ``accompaniment_db``: vocal-to-accompaniment RMS ratio in dB, or ``(lo, hi)`` to draw
    it per song, or None for none; ``accompaniment_share``: the share of songs in [0, 1]
    that get it (see :func:`accompanied`); ``reverb``: room reverb amount in [0, 1]
    (0 = dry), or ``(lo, hi)`` to draw it per song; ``recording_chain``: microphone
    colouring and background noise (:func:`_recording_chain`); ``keep_stems``: also
    return the voice and accompaniment before the room in ``stems``. The voice and the
    labels depend on none of these.
    """
    if split not in SPLITS:
        raise InputError(f"synthetic song split {split!r}: expected one of {', '.join(SPLITS)}")
    seconds = _song_length(seed, split, index, song_seconds)
    _, voice_rng, band_rng, room_rng, chain_rng = _song_streams(seed, split, index)
    singer = _draw_singer(voice_rng)
    score = _compose(voice_rng, singer, seconds)
    n = int(round(score.end * SAMPLE_RATE))
    voice, f0_hz, shape, phonemes, offsets = _voice(voice_rng, score, singer, n)
    info = {"singer": {"phonation": singer.phonation, "formant_scale": singer.formant_scale,
                       "range": [singer.low, singer.high]}, "accompaniment": None}
    band = np.zeros(n)
    if accompaniment_db is not None and accompanied(seed, split, index, accompaniment_share):
        ratio = _draw(band_rng, accompaniment_db)
        unit, layers = _accompaniment(band_rng, score, n)
        band = unit * _rms(voice) * 10 ** (-ratio / 20)
        info["accompaniment"] = {"db": ratio, **layers}
    mix = voice + band
    info["reverb"] = amount = _draw(room_rng, reverb)
    if amount > 0:
        mix = _reverb(room_rng, mix, amount)
    info["recording_chain"] = None
    if recording_chain:
        mix, info["recording_chain"] = _recording_chain(chain_rng, mix)
    peak_db = room_rng.uniform(-6.0, -1.0) if not recording_chain else chain_rng.uniform(-18.0, -1.0)
    mix *= 10 ** (peak_db / 20) / np.abs(mix).max()
    mix += 10 ** (room_rng.uniform(-72.0, -55.0) / 20) * room_rng.standard_normal(n)  # noise floor
    info["peak_dbfs"] = peak_db
    pcm = np.clip(np.rint(mix * 32767.0), -32768, 32767).astype(np.int16)
    centres = (HOP // CTRL_HOP) * (np.arange(num_frames(n)) + 1)
    f0 = np.where(shape[centres] >= VOICED_SHAPE, f0_hz[centres], 0.0)
    notes = NoteList(score.onset, offsets, score.midi.astype(np.float64))
    stems = {"voice": voice, "accompaniment": band} if keep_stems else {}
    return Song(song_name(split, index), pcm, notes, f0, phonemes, info, stems)
