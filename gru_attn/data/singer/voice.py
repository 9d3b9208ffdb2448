"""The voice: articulation, the syllable timing behind the labels, control tracks and synthesis.

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
voiced fricatives (z, v) and liquids or glides (l, r, w, j). A legato repeat of the same
pitch is a new syllable, or (a share ``reattack_share``, 0 by default) a re-attack of the
same vowel: a short dip of the voicing, no consonant, no pitch move (a soft glottal
re-articulation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gru_attn.data.singer.control import (
    CTRL_HOP,
    CTRL_RATE,
    MAX_PARTIAL_HZ,
    band_noise,
    rise,
    rms,
    smooth,
    span,
    upsample,
)
from gru_attn.data.singer.score import Score, Singer
from gru_attn.frames import SAMPLE_RATE
from gru_attn.notes import midi_to_hz

TAPER_HZ = 6000.0  # harmonics fade out between this and MAX_PARTIAL_HZ
SYNTH_CHUNK = 8000  # samples rendered at once (a multiple of CTRL_HOP)

# Vowel formants F1-F3 (Hz) of an adult low voice: a, e, E, i, o, O, u, schwa, ae.
_VOWELS = np.array(
    [
        [730, 1090, 2440],
        [400, 2000, 2550],
        [530, 1840, 2480],
        [270, 2290, 3010],
        [500, 850, 2450],
        [570, 840, 2410],
        [300, 870, 2240],
        [500, 1500, 2500],
        [660, 1720, 2410],
    ],
    dtype=np.float64,
)
# Syllable onsets: none (vowel / melisma), nasal (m, n), unvoiced fricative (s, sh, f),
# plosive, aspirate (h), voiced fricative (z, v), liquid or glide (l, r, w, j); and, for
# legato repeats of the same pitch only, a re-attack of the same vowel (a voicing dip).
_NONE, _NASAL, _FRICATIVE, _PLOSIVE, _ASPIRATE, _VFRICATIVE, _LIQUID, _REATTACK = range(8)
_ONSET_P = np.array([0.15, 0.2, 0.2, 0.15, 0.08, 0.1, 0.12])  # drawn for every note (not _REATTACK)
_UNVOICED = (_FRICATIVE, _PLOSIVE, _ASPIRATE)  # consonants that silence the voicing
_KIND_NAMES = ("none", "nasal", "fricative", "plosive", "aspirate", "voiced_fricative", "liquid", "reattack")
# Noise classes: pass band (Hz) and level range (dB re. the note's voice level).
_NOISES = {
    "s": ((3800, 7600), (-12, -4)),
    "sh": ((1800, 6000), (-12, -5)),
    "f": ((1000, 7600), (-22, -14)),
    "h": ((400, 3500), (-20, -12)),
    "burst": ((300, 7600), (-8, 0)),
    "breath": ((500, 3000), (-36, -26)),
    "z": ((3500, 7600), (-22, -12)),
    "v": ((1000, 6000), (-30, -20)),
}


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
    dip: np.ndarray  # voiced consonant or re-attack ending at the onset (connected notes): a voicing dip
    dip_depth: np.ndarray  # voicing level at the bottom of the dip (or of a voiced lead)
    lead: np.ndarray  # length of a consonant ending at the onset (after silence)
    fry: np.ndarray  # length of vocal fry before the release (phrase ends; 0 = none)
    attack: np.ndarray
    release: np.ndarray
    level_db: np.ndarray
    slope_db: np.ndarray  # level change across the note
    breath: np.ndarray  # length of a breath ending 0.1 s before the onset (0 = none)
    breath_db: np.ndarray


def _articulate(rng: np.random.Generator, score: Score, singer: Singer, reattack_share: float = 0.0) -> _Articulation:
    """Draw every note's performance parameters, bounded so each note's labels stay true.

    A connected note's consonant ends at its onset and takes at most 20 % (unvoiced: the
    previous note's label ends where it starts, and a re-attack's voicing dip, 40-100 ms
    down to 5-20 % of full) or 10 % (voiced) of the previous note; a
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
    kind = np.where(same & (kind == _NONE), consonant, kind)  # a repeated note is a new syllable ...
    if reattack_share > 0:  # ... or a re-attack of the vowel (no draw at 0: the voice stays as before)
        kind = np.where(same & (rng.random(n) < reattack_share), _REATTACK, kind)
    kind = np.where(score.melisma, _NONE, kind)
    fricative, voiced_fricative = rng.choice(["s", "sh", "f"], size=n), rng.choice(["z", "v"], size=n)
    noise = [
        {_FRICATIVE: str(fricative[i]), _VFRICATIVE: str(voiced_fricative[i]), _PLOSIVE: "burst", _ASPIRATE: "h"}.get(
            int(k), ""
        )
        for i, k in enumerate(kind)
    ]
    noise_db = np.array([rng.uniform(*_NOISES[c][1]) if c else 0.0 for c in noise])

    vowel = rng.integers(len(_VOWELS), size=(n, 2))
    for i in range(1, n):  # a melisma or a re-attack (connected, no consonant) keeps the vowel
        if score.connected[i] and kind[i] in (_NONE, _REATTACK):
            vowel[i, 0] = vowel[i - 1, 1]
    vowels = _VOWELS[vowel] * singer.formant_scale * rng.uniform(0.95, 1.05, (n, 2, 3))
    diphthong = np.where(rng.random(n) < 0.2, u(0.5, 0.8), 1.0)

    unvoiced, voiced = np.isin(kind, _UNVOICED), np.isin(kind, (_NASAL, _VFRICATIVE, _LIQUID))
    gap = np.where(score.connected & unvoiced, np.minimum(u(0.03, 0.08), 0.2 * prev_dur), 0.0)
    # re-attack lengths and depths are drawn only when re-attacks are on: at reattack_share=0
    # every draw, and so every song, is as before the option
    reattack = kind == _REATTACK
    if reattack_share > 0:
        dip_len = np.select([kind == _LIQUID, reattack], [u(0.05, 0.12), u(0.04, 0.1)], u(0.04, 0.1))
    else:
        dip_len = np.where(kind == _LIQUID, u(0.05, 0.12), u(0.04, 0.1))
    dip = np.where(
        score.connected & (voiced | reattack), np.minimum(dip_len, np.where(reattack, 0.2, 0.1) * prev_dur), 0.0
    )
    changes = score.connected & ~same
    melisma = score.connected & (kind == _NONE)
    glide = np.where(
        changes, np.where(melisma, np.minimum(u(0.04, 0.16), 0.2 * np.minimum(dur, prev_dur)), gap + dip), 0.0
    )
    settle_tau = np.minimum(u(0.015, 0.05), dur / 40)
    scoop = np.where(rng.random(n) < 0.7, -u(30, 150), np.where(rng.random(n) < 0.33, u(20, 60), 0.0))
    overshoot = np.sign(score.midi - prev_midi) * u(0, 35)
    settle = np.where(score.connected, np.where(changes, overshoot, 0.0), scoop)
    fall = np.where(~next_connected & (rng.random(n) < 0.3), u(20, 150), 0.0)
    next_silence = np.r_[score.onset[1:] - score.offset[:-1], np.inf]
    fry = np.where(
        ~next_connected & (next_silence >= 0.2) & (rng.random(n) < singer.fry),
        np.minimum(u(0.08, 0.25), 0.1 * dur),
        0.0,
    )

    level = _phrase_levels(rng, score, silence, singer.dynamics_db)
    lead_len = np.select(
        [np.isin(kind, (_FRICATIVE, _ASPIRATE)), kind == _PLOSIVE, voiced],
        [u(0.05, 0.12), u(0.02, 0.04), u(0.04, 0.1)],
        0.0,
    )
    # after a rest: the consonant fits in the rest (a detached note's rest is at least 16 ms)
    lead = np.where(
        ~score.connected & (kind != _NONE), np.minimum(lead_len, np.maximum(silence - 0.02, silence / 2)), 0.0
    )
    breath = np.where(
        ~score.connected & (silence >= 0.45) & (rng.random(n) < 0.5), np.minimum(u(0.2, 0.45), silence - 0.25), 0.0
    )
    if reattack_share > 0:
        dip_depth = np.select(
            [kind == _LIQUID, kind == _VFRICATIVE, reattack], [u(0.5, 0.85), u(0.2, 0.5), u(0.05, 0.2)], u(0.15, 0.45)
        )
    else:
        dip_depth = np.select([kind == _LIQUID, kind == _VFRICATIVE], [u(0.5, 0.85), u(0.2, 0.5)], u(0.15, 0.45))
    voiced_lead = (lead > 0) & voiced
    return _Articulation(
        onset_kind=kind,
        noise=noise,
        noise_db=noise_db,
        vowels=vowels,
        diphthong=diphthong,
        tune=np.clip(rng.normal(0.0, 4.0, n), -10.0, 10.0),
        glide=glide,
        settle=settle,
        settle_tau=settle_tau,
        fall=fall,
        fall_len=np.minimum(u(0.03, 0.08), 0.1 * dur),
        vib_depth=singer.vib_depth * u(0.8, 1.0),
        vib_delay=np.maximum(u(0.1, 0.35), glide / 2 + 3 * settle_tau),
        vib_ramp=u(0.15, 0.4),
        vib_rate=singer.vib_rate * u(0.95, 1.05),
        gap=gap,
        dip=dip,
        dip_depth=dip_depth,
        lead=lead,
        fry=fry,
        attack=np.where(
            score.connected, 0.0, np.minimum(np.where(voiced_lead, u(0.02, 0.05), u(0.01, 0.05)), 0.25 * dur)
        ),
        release=np.where(next_connected, 0.0, np.minimum(u(0.02, 0.08), 0.25 * dur)),
        level_db=level,
        slope_db=np.where(dur > 0.5, u(-4, 3), 0.0),
        breath=breath,
        breath_db=u(*_NOISES["breath"][1]),
    )


def _phrase_levels(rng: np.random.Generator, score: Score, silence: np.ndarray, spread: float) -> np.ndarray:
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
    return (
        base[phrase]
        + arch[phrase] * np.sin(np.pi * position)
        + 0.3 * (score.midi - score.midi.mean())
        + rng.normal(0.0, spread, n)
    )


def _phonemes(score: Score, art: _Articulation) -> tuple[Phonemes, np.ndarray]:
    """The syllable timing of every note and the labelled offsets (n,) in s.

    A note whose successor starts after an unvoiced consonant ends where that
    consonant starts (its voicing ends there); every other offset is the score's.
    """
    consonant_start = score.onset - (art.gap + art.dip + art.lead)
    offset = score.offset.copy()
    cut = np.flatnonzero(art.gap[1:] > 0)
    offset[cut] = consonant_start[cut + 1]
    melisma = score.connected & (art.onset_kind == _NONE)
    phonemes = Phonemes(
        consonant_start=consonant_start,
        vowel_start=score.onset.copy(),
        voicing_end=offset.copy(),
        kind=tuple(_KIND_NAMES[k] for k in art.onset_kind),
        connected=score.connected.copy(),
        melisma=melisma,
    )
    return phonemes, offset


# --------------------------------------------------------------------------- control tracks


def _pitch_track(score: Score, art: _Articulation, drift: np.ndarray, n_ctl: int):
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
            sl = span(g0, g0 + g, n_ctl)
            midi[sl] = target[i - 1] + (target[i] - target[i - 1]) * rise((t[sl] - g0) / g)
        tau = art.settle_tau[i]
        if art.settle[i] != 0:
            start = g0 + g
            sl = span(start, min(start + 8 * tau, off), n_ctl)
            x = (t[sl] - start) / tau
            shape = x * np.exp(1.0 - x) if score.connected[i] else np.exp(-x)
            cents[sl] += art.settle[i] * shape
        if art.fall[i] > 0:
            sl = span(off - art.fall_len[i], off, n_ctl)
            cents[sl] -= art.fall[i] * ((t[sl] - off + art.fall_len[i]) / art.fall_len[i]) ** 2
        sl = span(on, off, n_ctl)
        grow = rise((t[sl] - on - art.vib_delay[i]) / art.vib_ramp[i])
        fade = np.clip((off - t[sl]) / min(0.08, 0.1 * dur), 0.0, 1.0)
        vib_env[sl] = art.vib_depth[i] * grow * fade
        rate[sl] = art.vib_rate[i]
    vib_phase = 2 * np.pi * np.cumsum(rate) / CTRL_RATE
    return midi + (cents + vib_env * np.sin(vib_phase)) / 100, vib_env, vib_phase


def _voicing_track(score: Score, art: _Articulation, n_ctl: int):
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
        sl = span(on, off, n_ctl)
        x = t[sl] - on
        env = np.ones(len(x))
        lead = art.lead[i]
        voiced_lead = lead > 0 and kind in (_NASAL, _VFRICATIVE, _LIQUID)
        if voiced_lead:  # a voiced consonant's murmur before the vowel
            ls = span(on - lead, on, n_ctl)
            shape[ls] = depth * rise((t[ls] - on + lead) / min(0.015, lead))
            if kind == _NASAL:
                nasal[ls] = 1.0
        if art.attack[i] > 0:
            attack = rise(x / art.attack[i])
            env *= depth + (1.0 - depth) * attack if voiced_lead else attack
            if voiced_lead and kind == _NASAL:
                nasal[sl] = 1.0 - attack
        if art.release[i] > 0:
            env *= rise((off - t[sl]) / art.release[i])
        shape[sl] = env
        if art.gap[i] > 0:  # unvoiced consonant over [on - gap, on]
            c0, c1 = on - art.gap[i] - 0.005, on + 0.005
            gs = span(c0, c1, n_ctl)
            edge = np.minimum(t[gs] - c0, c1 - t[gs])
            shape[gs] *= 1.0 - rise(edge / 0.005)
        if art.dip[i] > 0:  # voiced consonant or re-attack over [on - dip, on]: a Hann-shaped dip
            ds = span(on - art.dip[i], on, n_ctl)
            weight = np.sin(np.pi * (t[ds] - on + art.dip[i]) / art.dip[i]) ** 2
            shape[ds] *= 1.0 - (1.0 - depth) * weight
            if kind == _NASAL:
                nasal[ds] = np.maximum(nasal[ds], weight)
    return shape, nasal


def _level_track(
    rng: np.random.Generator,
    score: Score,
    art: _Articulation,
    singer: Singer,
    vib_env: np.ndarray,
    vib_phase: np.ndarray,
) -> np.ndarray:
    """(n_ctl,) voice level in dB: note levels and slopes, shimmer and amplitude vibrato."""
    n_ctl = len(vib_env)
    t = np.arange(n_ctl) / CTRL_RATE
    current = np.clip(np.searchsorted(score.onset, t, side="right") - 1, 0, len(score.onset) - 1)
    dur = (score.offset - score.onset)[current]
    progress = np.clip((t - score.onset[current]) / dur, 0.0, 1.0)
    level = art.level_db[current] + art.slope_db[current] * progress
    level += rng.normal(0.0, singer.shimmer_db, n_ctl)
    return level + singer.amp_vib_db * (vib_env / 80.0) * np.sin(vib_phase + 0.5)


def _formant_track(
    rng: np.random.Generator, score: Score, art: _Articulation, singer: Singer, f0_hz: np.ndarray
) -> np.ndarray:
    """(5, n_ctl) formant frequencies in Hz: vowel targets per note, smoothed across syllables."""
    n_ctl = len(f0_hz)
    t = np.arange(n_ctl) / CTRL_RATE
    current = np.clip(np.searchsorted(score.onset, t, side="right") - 1, 0, len(score.onset) - 1)
    dur = (score.offset - score.onset)[current]
    second = (t - score.onset[current]) >= art.diphthong[current] * dur
    low = art.vowels[current, second.astype(int)].T  # (3, n_ctl)
    low = smooth(low, rng.uniform(0.04, 0.1))
    f4, f5 = singer.upper_formants
    low[0] = np.maximum(low[0], 1.1 * f0_hz)  # high notes: F1 follows f0
    low[1] = np.maximum(low[1], low[0] + 150.0)
    low[2] = np.clip(low[2], low[1] + 200.0, f4 - 200.0)
    return np.vstack([low, np.array([[f4], [f5]]) * np.ones(n_ctl)])


def _harmonic_gains(f0_hz: np.ndarray, formants: np.ndarray, singer: Singer, nasal: np.ndarray) -> np.ndarray:
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
        gain *= (fk**2 + half_bw**2) / np.sqrt(((f - fk) ** 2 + half_bw**2) * ((f + fk) ** 2 + half_bw**2))
    gain *= 1.0 - rise((f - TAPER_HZ) / (MAX_PARTIAL_HZ - TAPER_HZ))
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
        a = amps[:, k0 : k1 + 1]
        audible = np.flatnonzero(a.max(axis=1) > 0)
        if not len(audible):
            continue
        a = a[: audible[-1] + 1]
        a_s = (a[:, :-1, None] + (a[:, 1:] - a[:, :-1])[:, :, None] * ramp).reshape(len(a), -1)[:, : stop - start]
        waves = np.sin(h[: len(a)] * theta[None, start:stop] + phases[: len(a), None])
        out[start:stop] = np.einsum("hn,hn->n", a_s, waves)
    return out


def _noise_envelopes(score: Score, art: _Articulation, level_db: np.ndarray) -> dict:
    """{noise class: (n_ctl,) amplitude envelope} of consonants and breaths, relative to the voice."""
    n_ctl = len(level_db)
    t = np.arange(n_ctl) / CTRL_RATE
    envs = {}

    def add(kind: str, t0: float, t1: float, db: float, decay: bool = False):
        sl = span(t0, t1, n_ctl)
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


def _fry_weight(score: Score, art: _Articulation, n_ctl: int) -> np.ndarray:
    """(n_ctl,) weight in [0, 1] of vocal fry, which fades in over the last ``art.fry`` s of a note."""
    t = np.arange(n_ctl) / CTRL_RATE
    weight = np.zeros(n_ctl)
    for off, length in zip(score.offset, art.fry):
        if length > 0:
            sl = span(off - length, off, n_ctl)
            weight[sl] = rise((t[sl] - off + length) / 0.03)
    return weight


def render_voice(rng: np.random.Generator, score: Score, singer: Singer, n: int, reattack_share: float = 0.0):
    """Render the dry voice -> ((n,) float64 audio, (n_ctl,) f0 in Hz, (n_ctl,) voicing envelope,
    :class:`Phonemes`, (n_notes,) labelled offsets in s). ``reattack_share``: the share of
    legato same-pitch repeats sung as a re-attack of the vowel."""
    n_ctl = n // CTRL_HOP + 2
    art = _articulate(rng, score, singer, reattack_share)
    phonemes, offsets = _phonemes(score, art)
    t = np.arange(n_ctl) / CTRL_RATE
    drift = sum(
        a * np.sin(2 * np.pi * f * t + p)
        for a, f, p in zip(rng.uniform(0, 4 / 3, 3), rng.uniform(0.05, 0.8, 3), rng.uniform(0, 2 * np.pi, 3))
    )
    midi, vib_env, vib_phase = _pitch_track(score, art, drift, n_ctl)
    f0_hz = midi_to_hz(midi)
    shape, nasal = _voicing_track(score, art, n_ctl)
    level_db = _level_track(rng, score, art, singer, vib_env, vib_phase)
    fry = _fry_weight(score, art, n_ctl)  # irregular, low glottal pulses: f0 and level jump per step
    amp = shape * 10 ** (level_db / 20) * (1.0 - 0.6 * fry * rng.random(n_ctl))
    gains = _harmonic_gains(f0_hz, _formant_track(rng, score, art, singer, f0_hz), singer, nasal)
    f0_jittered = f0_hz * (1.0 + rng.normal(0.0, singer.jitter, n_ctl)) * (1.0 - fry * rng.uniform(0.3, 0.7, n_ctl))
    cycles = np.cumsum(upsample(f0_jittered, n) / SAMPLE_RATE)
    phases = rng.uniform(0, 2 * np.pi, len(gains)).astype(np.float32)
    harmonic = _render_harmonics(gains * amp[None, :].astype(np.float32), cycles, phases).astype(np.float64)
    amp_s = upsample(amp, n)
    ref = rms(harmonic) / max(rms(amp_s), 1e-12)  # harmonic output per unit of amplitude
    pulse = 0.4 + 0.6 * (0.5 + 0.5 * np.cos(2 * np.pi * cycles)) ** 2  # aspiration is pulsed at f0
    voice = harmonic + ref * 10 ** (singer.breath_db / 20) * amp_s * pulse * band_noise(rng, (1500, 6500), n)
    for kind, env in sorted(_noise_envelopes(score, art, level_db).items()):
        voice += ref * upsample(env, n) * band_noise(rng, _NOISES[kind][0], n)
    return voice, f0_hz, shape, phonemes, offsets
