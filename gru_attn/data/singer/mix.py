"""The mix: accompaniment, room reverb and recording chain around the dry voice.

*Mix*: accompaniment (:func:`render_accompaniment`: chords in the key on piano, guitar,
strings or pad with attack/decay/sustain/release envelopes, a bass line, drums) at a
vocal-to-accompaniment RMS ratio; room reverb (amount r in [0, 1]: an exponentially
decaying, darkened noise tail with early reflections, RT60 = 0.2 + 1.8 r s,
reverberant-to-direct energy ratio 2 r times a wetness factor of -3..+5 dB drawn per room,
so the direct-to-reverberant ratio spans about +13 dB to -5 dB); a recording chain (:func:`apply_recording_chain`:
microphone EQ and background noise); a faint noise floor and the peak level are set in
:func:`gru_attn.data.singer.song.render_song`.
"""

from __future__ import annotations

import numpy as np

from gru_attn.data.singer.control import MAX_PARTIAL_HZ, band_noise, rise, rms
from gru_attn.data.singer.score import SCALES, Score
from gru_attn.frames import SAMPLE_RATE
from gru_attn.notes import midi_to_hz

WETNESS_DB = (-3.0, 5.0)  # per-room factor on the reverberant/direct energy, dB (the mic's distance)
_CHORD_STYLES = ("piano", "guitar", "strings", "pad")
# Tone models: harmonic roll-off exponent, attack (s), release (s), decay time of harmonic 1 (s; inf =
# sustained) and how fast upper harmonics decay faster, inharmonicity, most harmonics.
_TONES = {
    "piano": (1.2, 0.004, 0.12, 1.5, 0.7, 2e-4, 16),
    "guitar": (1.0, 0.002, 0.06, 0.9, 0.9, 5e-5, 16),
    "strings": (1.0, 0.15, 0.25, np.inf, 0.0, 0.0, 16),
    "pad": (1.8, 0.4, 0.4, np.inf, 0.0, 0.0, 10),
    "bass": (1.5, 0.006, 0.06, 0.9, 0.8, 1e-4, 8),
}


def render_accompaniment(rng: np.random.Generator, score: Score, n: int) -> tuple[np.ndarray, dict]:
    """(n,) accompaniment in the song's key and tempo, unit RMS, and what it holds (JSON-ready).

    Layers, each normalised then mixed at a drawn level: chords (piano, guitar, strings
    or pad: block chords, strums, arpeggios or held chords under the melody, MIDI 48-59),
    a bass line (roots and fifths, MIDI 31-42; most songs) and drums (kick, snare and
    hi-hat noise bursts on the beat; about half the songs).
    """
    beat = 60.0 / score.tempo
    meter = 3 if rng.random() < 0.25 else 4
    bar = beat * meter
    steps = score.scale if len(score.scale) == 7 else SCALES[0]
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
            events = [
                (s + k * spread, every, m) for s in np.arange(t, t + length - 1e-9, every) for k, m in enumerate(chord)
            ]
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
    out = sum(
        layer.astype(np.float64) / max(rms(layer), 1e-12) * 10 ** (gains[name] / 20) for name, layer in layers.items()
    )
    return out / max(rms(out), 1e-12), {"style": style, "pattern": pattern, "layers": sorted(layers)}


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
    env = h**-roll * rise(t / attack) * rise((dur + release - t) / release)
    if style == "guitar":  # plucking point: a comb over the partials
        env = env * np.abs(np.sin(np.pi * h * rng.uniform(0.1, 0.3)))
    if np.isfinite(tau1):
        env = env * np.exp(-t / (tau1 / h**tau_exp))
    fh = f * h * np.sqrt(1 + inharm * h**2)
    seconds = np.arange(length) / SAMPLE_RATE
    if style == "strings":  # a gentle vibrato (5-6 Hz, about 8 cents)
        rate = rng.uniform(5.0, 6.0)
        seconds = seconds - 0.0046 * np.cos(2 * np.pi * rate * seconds) / (2 * np.pi * rate)
    cycles = np.outer(fh, seconds)  # float64 phase, reduced before float32 sin
    phases = rng.uniform(0, 2 * np.pi, (len(h), 1)).astype(np.float32)
    angle = (2 * np.pi * (cycles - np.floor(cycles))).astype(np.float32) + phases
    out[s0 : s0 + length] += np.einsum("hn,hn->n", env.astype(np.float32), np.sin(angle))


def _drums(rng: np.random.Generator, n: int, beat: float, meter: int) -> np.ndarray:
    """(n,) float32 drum track: kick on beat 1 (and 3 in 4/4), snare on the back beats, hi-hat on
    every half beat; each hit a noise burst or swept sine with a drawn level."""

    def seconds(length):
        return np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE

    tk, ts, th = seconds(0.3), seconds(0.2), seconds(0.06)
    sweep = 45.0 * tk + 100.0 * 0.03 * (1 - np.exp(-tk / 0.03))  # cycles of a 145 -> 45 Hz sweep
    kick = np.sin(2 * np.pi * sweep) * np.exp(-tk / rng.uniform(0.08, 0.16))
    snare = band_noise(rng, (1000, 7000), len(ts)) * np.exp(-ts / rng.uniform(0.05, 0.1)) + 0.6 * np.sin(
        2 * np.pi * rng.uniform(170, 230) * ts
    ) * np.exp(-ts / 0.04)
    hat = 0.5 * band_noise(rng, (6000, 7600), len(th)) * np.exp(-th / rng.uniform(0.01, 0.025))
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
            out[s0 : s0 + m] += v * sound[:m]
    return out.astype(np.float32)


def apply_reverb(rng: np.random.Generator, x: np.ndarray, amount: float) -> np.ndarray:
    """Room reverb of ``amount`` in (0, 1]: RT60 0.2 + 1.8 * amount s; reverberant/direct
    energy 2 * amount times a factor of ``WETNESS_DB`` dB drawn per room (how far the
    microphone stands: a small room can sound wet and a large one dry)."""
    from scipy import signal  # here, not at import: scipy.signal takes a second to load

    rt60 = 0.2 + 1.8 * amount
    wetness = 10 ** (rng.uniform(*WETNESS_DB) / 10)
    length = int(min(1.2 * rt60, 3.0) * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.91 * t / rt60)
    pole = np.exp(-2 * np.pi * rng.uniform(3000.0, 6000.0) / SAMPLE_RATE)  # darker than the direct sound
    tail = signal.lfilter([1.0 - pole], [1.0, -pole], tail)
    tail[: int(rng.uniform(0.005, 0.02) * SAMPLE_RATE)] = 0.0  # pre-delay
    taps = (rng.uniform(0.003, 0.03, 6) * SAMPLE_RATE).astype(int)
    tail[taps] += rng.uniform(0.1, 0.4, 6) * rng.choice([-1.0, 1.0], 6)  # early reflections
    tail *= np.sqrt(2 * amount * wetness / np.sum(tail**2))
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
    b = amp * np.array(
        [
            (amp + 1) + (amp - 1) * cos + 2 * root * alpha,
            -2 * ((amp - 1) + (amp + 1) * cos),
            (amp + 1) + (amp - 1) * cos - 2 * root * alpha,
        ]
    )
    a = np.array(
        [
            (amp + 1) - (amp - 1) * cos + 2 * root * alpha,
            2 * ((amp - 1) - (amp + 1) * cos),
            (amp + 1) - (amp - 1) * cos - 2 * root * alpha,
        ]
    )
    return np.r_[b / a[0], a / a[0]][None, :]


def apply_recording_chain(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Microphone and room noise: (n,) signal -> (n,) recorded signal, and what was drawn (JSON-ready).

    A 2nd-order low cut at 40-150 Hz, a presence peak of 0-6 dB at 2-6 kHz, one to three
    gentle peaking filters (+-4 dB, 100 Hz-6 kHz) and a +-4 dB high shelf at 3-7 kHz
    colour the signal; white, pink or mains-hum (50/60 Hz and harmonics) noise is added
    at a signal-to-noise ratio of 20-50 dB (RMS over the song).
    """
    from scipy import signal  # here, not at import: scipy.signal takes a second to load

    low_cut = rng.uniform(40.0, 150.0)
    presence = (rng.uniform(2000.0, 6000.0), rng.uniform(0.0, 6.0), rng.uniform(0.7, 1.5))
    peaks = [
        (float(np.exp(rng.uniform(np.log(100.0), np.log(6000.0)))), rng.uniform(-4.0, 4.0), rng.uniform(0.5, 2.0))
        for _ in range(int(rng.integers(1, 4)))
    ]
    shelf = (rng.uniform(3000.0, 7000.0), rng.uniform(-4.0, 4.0))
    sos = np.vstack(
        [
            signal.butter(2, low_cut, btype="highpass", fs=SAMPLE_RATE, output="sos"),
            _peaking(*presence),
            *[_peaking(*p) for p in peaks],
            _high_shelf(*shelf),
        ]
    )
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
    y = y + noise * rms(y) / max(rms(noise), 1e-12) * 10 ** (-snr / 20)
    info = {
        "low_cut_hz": low_cut,
        "presence": list(presence),
        "peaks": [list(p) for p in peaks],
        "shelf": list(shelf),
        "noise": kind,
        "snr_db": snr,
    }
    return y, info
