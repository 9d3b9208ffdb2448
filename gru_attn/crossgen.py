"""A cross-generator evaluation set: sampled GM voices rendered by fluidsynth, scored per condition.

    python -m gru_attn.crossgen [--out DIR] [--songs 8] [--seconds 30] [--seed 0]     # generate only
    python -m gru_attn.crossgen --ckpt CHECKPOINT [--pitch-method praat|world|harvest] [--report DIR]

The training corpus comes from the project's own singer (``gru_attn.synth``). This set
shares no code with it: melodies come from a small composer in this module, the voice
is a General MIDI soundfont's sampled "Choir Aahs" / "Voice Oohs" / "Synth Voice"
(programs 52-54, 0-based) rendered by the ``fluidsynth`` program, with pitch bends for
vibrato and glides and CC11 (expression) for dynamics. It is for evaluation only:
never train on it, never pick thresholds or checkpoints with it.

Needs the ``fluidsynth`` program and a GM soundfont (Debian:
``apt-get install fluidsynth fluid-soundfont-gm``, which installs
``/usr/share/sounds/sf2/FluidR3_GM.sf2``; ``--soundfont`` picks another).

Conditions (each its own songs):

=============  ==============================================================================
condition      audio
=============  ==============================================================================
clean          the voice alone, dry
accompaniment  voice + a GM accompaniment stem (chords of the song's key on piano, guitar,
               strings or pad, and a bass), rendered separately and mixed so that the RMS
               voice-to-accompaniment ratio is 6-12 dB
reverb         the dry voice convolved with a synthetic room (RT60 0.3-1.0 s) plus white,
               pink or brown noise at 15-30 dB SNR
=============  ==============================================================================

Layout under ``--out`` (default ``generated/crossgen``)::

    <condition>/wav/<condition>_NNN.wav      16 kHz mono, 16-bit PCM
    <condition>/notes/<condition>_NNN.csv    reference notes (onset, offset s, midi)
    <condition>/meta/<condition>_NNN.json    the song's draw (key, program, ratio, RT60, SNR)
    set.json                                 settings, fluidsynth version, soundfont, calibration

so ``python -m gru_attn.evaluate --ckpt C --wav-dir DIR/clean/wav --notes-dir DIR/clean/notes``
also reads it. Generation is seeded and cached: a set whose ``set.json`` matches the
settings is reused; the same seed, fluidsynth and soundfont give the same bytes.

Label convention (as the corpus's): a note starts where its voiced sound starts and
ends where it stops. Every note fades in and out by CC11 ramps; each note's sample is
started silently ``PREROLL`` s early so the sample's own slow swell is hidden, and
sounds on its own MIDI channel (channels rotate, so a previous note's release tail is
silenced by its channel's CC11 = 0 and never blurs the next note). The delay between
the scheduled start and the energy rise, and between the scheduled end and the energy
fall, are measured per program on isolated rendered notes (:func:`calibrate`: the
times the 10 ms RMS crosses 15 dB below the sustain level) and added to the labels.
Connected (legato) notes are sung on one channel, so one sample sounds throughout:
either a melisma, a pitch-bend glide whose midpoint is the shared boundary, or a
voiced consonant (m, n, l), a 12-24 dB expression dip ending at the next note's
vowel (the shared boundary) with the pitch move inside it; repeated same-pitch notes
are always joined by such a dip or separated by a gap. Detached notes are separated
by a silent 40-150 ms gap (an unvoiced consonant or a breath).

With ``--ckpt``, every condition is transcribed and scored with
:func:`gru_attn.evaluate.evaluate` (mir_eval COnPOff / COnP / COn F1, macro mean over
songs) beside a baseline: the Praat contour segmented by
:func:`gru_attn.frames.pitch_to_notes`. The table (markdown) and all numbers (JSON)
go to ``--report`` (default ``<out>/report``) as ``<run>_<stem>.md/.json`` for
``<run>/checkpoints/<stem>.pt`` (else ``<stem>.md/.json``).
Exit status 0, or 2 for a missing tool, a bad option or checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from gru_attn.errors import InputError
from gru_attn.files import atomic_path, write_json, write_text
from gru_attn.frames import SAMPLE_RATE
from gru_attn.notes import NoteList, write_notes
from gru_attn.pitch import METHODS

CONDITIONS = ("clean", "accompaniment", "reverb")
VOICE_PROGRAMS = {52: "Choir Aahs", 53: "Voice Oohs", 54: "Synth Voice"}  # GM programs, 0-based
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DEFAULT_OUT = Path("generated/crossgen")
FORMAT_VERSION = 1  # bump when the composer or renderer changes what a seed produces

RENDER_RATE = 48000  # Hz; fluidsynth renders here, then 3:1 polyphase down to 16 kHz
PREROLL = 0.25  # s a note's sample starts (silent, CC11 = 0) before its scheduled start
RAMP_IN = 0.02  # s, CC11 rise at a note's start
RAMP_OUT = 0.04  # s, CC11 fall at a note's end
TAIL = 0.7  # s a channel rests after a note's end before its next pre-roll (release tails die)
BEND_RANGE = 12  # semitones of pitch-bend range, set by RPN 0 on every voice channel
VOICE_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 7)  # never 9 (GM drums)
EVENT_STEP = 0.005  # s between pitch-bend / CC11 events of a contour
LEVEL_DB = 15.0  # the energy threshold below the sustain level that calibrate measures
RANGE = (48, 76)  # MIDI range of all singers


def _missing_tool_message() -> str:
    return "fluidsynth not found: apt-get install fluidsynth fluid-soundfont-gm"


@functools.lru_cache(maxsize=8)
def find_fluidsynth(soundfont: Path) -> tuple[str, str]:
    """(fluidsynth executable, its version line); InputError naming what is missing."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise InputError(_missing_tool_message())
    if not Path(soundfont).is_file():
        raise InputError(f"{soundfont}: soundfont not found: apt-get install fluid-soundfont-gm "
                         "(or pass --soundfont FILE.sf2)")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True)
    version = next((line for line in proc.stdout.splitlines() if "version" in line.lower()), "unknown").strip()
    return exe, version


# --------------------------------------------------------------------------- composer


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
    voiced-consonant links, 20 % melisma glides and the rest detached by 40-150 ms. Returns (notes with channels
    assigned, key info ``{"tonic", "mode", "beat", "low", "high"}``).
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
            phrase.append(Note(t, t + dur, pitches[idx], int(rng.integers(60, 121)), (expr0, expr1), vibrato=vib,
                               detune=detune, scoop=scoop))
            step = int(rng.choice([-1, 1, 0, -2, 2, -3, 3, -4, 4, 5, -5],
                                  p=[0.22, 0.22, 0.2, 0.09, 0.09, 0.05, 0.05, 0.03, 0.03, 0.01, 0.01]))
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
    _assign_channels(notes)
    return notes, {"tonic": tonic, "mode": mode, "beat": beat, "low": low, "high": high}


def _glided_in(phrase: list[Note], note: Note) -> bool:
    """Whether ``note`` of ``phrase`` is reached by a glide from the note before it."""
    k = next(i for i, n in enumerate(phrase) if n is note)
    return k > 0 and phrase[k - 1].glide > 0


def _assign_channels(notes: list[Note]) -> None:
    """Give each legato group one channel and rotate channels so a channel's next note
    starts its pre-roll at least ``TAIL`` s after its previous note's end."""
    free_at = {c: -1e9 for c in VOICE_CHANNELS}
    i = 0
    while i < len(notes):
        j = i
        while notes[j].glide and j + 1 < len(notes):
            j += 1
        channel = min(free_at, key=lambda c: free_at[c])
        if free_at[channel] > notes[i].start - PREROLL:
            raise AssertionError("too few voice channels for the melody")  # cannot happen for 0.15 s notes
        for k in range(i, j + 1):
            notes[k].channel = channel
        free_at[channel] = notes[j].end + TAIL
        i = j + 1


def _labels(notes: list[Note], delays: dict) -> NoteList:
    """Reference notes: scheduled times moved by the measured ``delays`` (``on``, ``off`` s);
    connected notes share their scheduled boundary (glide midpoint or consonant end)."""
    rows = []
    for k, n in enumerate(notes):
        glided_in = k > 0 and notes[k - 1].glide > 0
        onset = n.start if glided_in else n.start + delays["on"]
        offset = n.end if n.glide else n.end + delays["off"]
        rows.append((onset, offset, n.pitch))
    return NoteList.from_rows(rows)


# --------------------------------------------------------------------------- MIDI


def _bend_value(semitones: float) -> int:
    return int(np.clip(round(semitones / BEND_RANGE * 8192), -8192, 8191))


def voice_midi(notes: list[Note], program: int, path: Path) -> None:
    """Write the melody as a MIDI file: per note a silent pre-roll, CC11 ramps for its
    dynamics, pitch bends for vibrato (after a 0.15-0.25 s attack) and legato glides."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0, resolution=960)
    insts = {}
    for c in sorted({n.channel for n in notes}):
        inst = pretty_midi.Instrument(program=program, name=f"voice{c}")
        # RPN 0 (bend range) then CC11 = 0; 1 ms apart because pretty_midi orders the
        # control changes of one tick by controller number, which would break the RPN
        for k, (number, value) in enumerate(((101, 0), (100, 0), (6, BEND_RANGE), (38, 0), (11, 0))):
            inst.control_changes.append(pretty_midi.ControlChange(number, value, 0.001 * k))
        insts[c] = inst
    i = 0
    while i < len(notes):
        j = i
        while notes[j].glide and j + 1 < len(notes):
            j += 1
        _group_events(notes[i:j + 1], insts[notes[i].channel], pretty_midi)
        i = j + 1
    # pretty_midi writes one track per instrument; channels follow instrument order (skipping 9)
    pm.instruments = [insts[c] for c in sorted(insts)]
    pm.write(str(path))


def _group_events(group: list[Note], inst, pretty_midi) -> None:
    """Events of one legato group (one note-on at the first pitch; later pitches by bend)."""
    anchor = group[0].pitch
    start, end = group[0].start, group[-1].end
    inst.notes.append(pretty_midi.Note(velocity=group[0].velocity, pitch=anchor, start=start - PREROLL,
                                       end=end + 0.01))
    inst.control_changes.append(pretty_midi.ControlChange(11, 0, start - PREROLL))
    times = np.arange(start - PREROLL, end + 0.005, EVENT_STEP)
    bend = np.zeros(len(times))
    expr = np.zeros(len(times))
    for k, n in enumerate(group):
        inside = (times >= n.start) & (times < n.end)
        if k == 0:
            inside |= times < n.start
        if k == len(group) - 1:
            inside |= times >= n.end
        u = np.clip((times - n.start) / max(n.end - n.start, 1e-3), 0, 1)
        level = n.expr[0] + (n.expr[1] - n.expr[0]) * u
        scoop = np.zeros(len(times))
        if k == 0 and n.scoop:  # a scoop up into a detached note over its first 60-100 ms
            scoop = -n.scoop / 100.0 * np.clip(1 - (times - n.start) / (0.06 + n.scoop / 3000), 0, 1)
        rate, depth, phase = n.vibrato
        onset_delay = 0.15 + 0.1 * (k % 2)
        ramp = np.clip((times - n.start - onset_delay) / 0.2, 0, 1)
        vib = depth / 100.0 * ramp * np.sin(2 * np.pi * rate * (times - n.start) + phase)
        bend[inside] = (n.pitch - anchor + n.detune / 100.0 + vib + scoop)[inside]
        expr[inside] = level[inside]
    for k, n in enumerate(group[:-1]):  # the link to the next note
        nxt = group[k + 1]
        g = n.glide
        a = n.pitch - anchor + n.detune / 100.0
        b = nxt.pitch - anchor + nxt.detune / 100.0
        if n.dip_db:  # voiced consonant: expression dip over [end - g, end + g / 4], pitch move in its 2nd half
            inside = (times >= n.end - g) & (times < n.end + g / 4)
            hann = np.sin(np.pi * (times[inside] - (n.end - g)) / (1.25 * g)) ** 2
            expr[inside] *= 10 ** (-n.dip_db * hann / 40)  # CC11 acts on amplitude about squared
            lo, hi = n.end - g / 2, n.end
        else:  # melisma: a raised-cosine glide centred on the boundary
            lo, hi = n.end - g / 2, n.end + g / 2
        inside = (times >= lo) & (times < hi)
        w = 0.5 - 0.5 * np.cos(np.pi * (times[inside] - lo) / (hi - lo))
        bend[inside] = a * (1 - w) + b * w
    fade = np.clip((times - start) / RAMP_IN, 0, 1) * np.clip((end - times) / RAMP_OUT, 0, 1)
    cc = np.rint(127 * expr * fade).astype(int)
    values = [_bend_value(b) for b in bend]
    last_cc, last_bend = 0, None
    for t, c, b in zip(times, cc, values):
        t = max(float(t), 0.0)
        if b != last_bend:
            inst.pitch_bends.append(pretty_midi.PitchBend(b, t))
            last_bend = b
        if c != last_cc:
            inst.control_changes.append(pretty_midi.ControlChange(11, int(c), t))
            last_cc = c
    inst.control_changes.append(pretty_midi.ControlChange(11, 0, end + 0.005))


ACCOMP_PROGRAMS = {"piano": (0, 1, 4), "guitar": (24, 25), "strings": (48, 49), "pad": (88, 89, 91)}
BASS_PROGRAMS = (32, 33, 34)
PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 0, 4), (1, 4, 0, 0))


def accompaniment_midi(rng: np.random.Generator, key: dict, seconds: float, path: Path) -> dict:
    """Write an accompaniment in ``key``: diatonic triads, one per bar of 4 beats, on a
    drawn chord instrument (block, arpeggio or sustained), plus a bass on the roots.
    Returns what was drawn."""
    import pretty_midi

    scale = MAJOR if key["mode"] == "major" else MINOR
    kind = str(rng.choice(list(ACCOMP_PROGRAMS)))
    program = int(rng.choice(ACCOMP_PROGRAMS[kind]))
    bass_program = int(rng.choice(BASS_PROGRAMS))
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    pattern = "sustain" if kind in ("strings", "pad") else str(rng.choice(["block", "arpeggio"]))
    beat = key["beat"]
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0, resolution=960)
    chords = pretty_midi.Instrument(program=program, name=kind)
    bass = pretty_midi.Instrument(program=bass_program, name="bass")
    base = 48 + key["tonic"]
    if base > 55:
        base -= 12
    t, bar = 0.0, 0
    while t < seconds:
        degree = progression[bar % len(progression)]
        triad = [base + scale[(degree + s) % 7] + 12 * ((degree + s) // 7) for s in (0, 2, 4)]
        bar_len = 4 * beat
        vel = int(rng.integers(50, 90))
        if pattern == "sustain":
            for p in triad:
                chords.notes.append(pretty_midi.Note(vel, p, t, min(t + bar_len, seconds)))
        else:
            for b in range(4 if pattern == "block" else 8):
                step = beat if pattern == "block" else beat / 2
                on = t + b * step
                if on >= seconds:
                    break
                notes = triad if pattern == "block" else [triad[(0, 1, 2, 1)[b % 4]] + (12 if b % 4 == 2 else 0)]
                for p in notes:
                    chords.notes.append(pretty_midi.Note(vel, p, on, min(on + step * 0.95, seconds)))
        root = base - 12 + scale[degree % 7]
        for b in (0, 2):
            on = t + b * beat
            if on < seconds:
                bass.notes.append(pretty_midi.Note(int(rng.integers(70, 100)), root, on,
                                                   min(on + 1.9 * beat, seconds)))
        t += bar_len
        bar += 1
    pm.instruments = [chords, bass]
    pm.write(str(path))
    return {"accompaniment": kind, "program": program, "bass_program": bass_program, "pattern": pattern,
            "progression": list(progression)}


# --------------------------------------------------------------------------- rendering


def render_midi(midi_path: Path, soundfont: Path, seconds: float, effects: bool = False) -> np.ndarray:
    """Render a MIDI file with fluidsynth (48 kHz float) -> (seconds * 16000,) float64 mono at 16 kHz.

    ``effects``: fluidsynth's own reverb and chorus (off for the voice).
    """
    import scipy.signal

    exe, _ = find_fluidsynth(soundfont)
    with tempfile.TemporaryDirectory(prefix="gru_attn_crossgen_") as tmp:
        wav = Path(tmp) / "render.wav"
        flag = "1" if effects else "0"
        cmd = [exe, "-ni", "-q", "-R", flag, "-C", flag, "-g", "0.5", "-r", str(RENDER_RATE), "-O", "float",
               "-T", "wav", "-F", str(wav), str(soundfont), str(midi_path)]
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


def _envelope_db(x: np.ndarray, step: float = 0.01) -> np.ndarray:
    """RMS level in dB of consecutive ``step`` s frames of 16 kHz ``x``."""
    hop = int(step * SAMPLE_RATE)
    n = len(x) // hop
    frames = x[:n * hop].reshape(n, hop)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)


def calibrate(program: int, soundfont: Path, workdir: Path) -> dict:
    """Measured label delays of ``program`` (s): ``on`` from a note's scheduled start to the
    energy rise, ``off`` from its scheduled end to the energy fall (negative = before).

    Renders isolated notes at MIDI 50, 60 and 70 (no vibrato, full expression) the way
    :func:`voice_midi` renders songs and takes the median over them of the times the 10 ms
    RMS crosses ``LEVEL_DB`` dB below the note's sustain level.
    """
    starts = (1.0, 3.0, 5.0)
    notes = [Note(s, s + 0.8, p, 100, (1.0, 1.0), vibrato=(5.5, 0.0, 0.0)) for s, p in zip(starts, (50, 60, 70))]
    _assign_channels(notes)
    path = workdir / f"calibrate_{program}.mid"
    voice_midi(notes, program, path)
    audio = render_midi(path, soundfont, 7.0)
    env = _envelope_db(audio)
    on, off = [], []
    for n in notes:
        lo, hi = int((n.start - 0.2) / 0.01), int((n.end + 0.4) / 0.01)
        sustain = np.median(env[int((n.start + 0.3) / 0.01):int((n.end - 0.1) / 0.01)])
        above = np.flatnonzero(env[lo:hi] >= sustain - LEVEL_DB)
        # frame k covers [k, k+1) * 10 ms: the crossing is at its centre
        on.append((lo + above[0] + 0.5) * 0.01 - n.start)
        off.append((lo + above[-1] + 0.5) * 0.01 - n.end)
    return {"on": round(float(np.median(on)), 4), "off": round(float(np.median(off)), 4)}


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
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail ** 2))
    tail[0] += 1.0
    return tail, {"rt60_s": round(rt60, 3), "predelay_s": round(predelay, 4), "drr_db": round(drr_db, 2)}


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """(n,) unit-RMS white, pink (1/f) or brown (1/f^2) noise, shaped in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
    spec *= {"white": 1.0, "pink": f ** -0.5, "brown": f ** -1.0}[color]
    x = np.fft.irfft(spec, n)
    return x / rms(x)


# --------------------------------------------------------------------------- songs


def song_rng(seed: int, condition: str, index: int) -> np.random.Generator:
    """The generator of song ``index`` of ``condition`` (independent of the set's size)."""
    return np.random.default_rng([seed, CONDITIONS.index(condition), index])


def render_song(condition: str, index: int, *, seed: int, seconds: float, soundfont: Path, workdir: Path,
                calibration: dict) -> dict:
    """Compose and render one song; returns ``{"audio", "notes", "meta", "stems", "score"}``.

    ``audio``: (seconds * 16000,) float64 mix at its final level (peak 0.3-0.9);
    ``notes``: the reference :class:`NoteList`; ``stems``: ``voice`` and (accompaniment)
    ``accompaniment`` scaled as mixed, or (reverb) ``wet`` voice and ``noise``, before
    the final gain ``meta["gain"]``; ``score``: the composed :class:`Note` list.
    ``calibration`` maps program -> delays of :func:`calibrate`.
    """
    rng = song_rng(seed, condition, index)
    program = int(rng.choice(list(VOICE_PROGRAMS)))
    notes, key = compose_melody(rng, seconds)
    mid = workdir / f"{condition}_{index}_voice.mid"
    voice_midi(notes, program, mid)
    voice = render_midi(mid, soundfont, seconds)
    voice /= max(rms(voice), 1e-9)
    meta = {"condition": condition, "index": index, "program": program, "voice": VOICE_PROGRAMS[program],
            "key": key, "notes": len(notes), "melisma_glides": sum(1 for n in notes if n.glide and not n.dip_db),
            "voiced_consonants": sum(1 for n in notes if n.dip_db)}
    stems = {"voice": voice}
    mix = voice
    if condition == "accompaniment":
        accomp_path = workdir / f"{condition}_{index}_accomp.mid"
        meta.update(accompaniment_midi(rng, key, seconds, accomp_path))
        accomp = render_midi(accomp_path, soundfont, seconds, effects=True)
        ratio_db = float(rng.uniform(6.0, 12.0))
        accomp *= rms(voice) / max(rms(accomp), 1e-12) * 10 ** (-ratio_db / 20)
        meta["ratio_db"] = round(ratio_db, 3)
        stems["accompaniment"] = accomp
        mix = voice + accomp
    elif condition == "reverb":
        ir, room = room_impulse(rng)
        import scipy.signal

        wet = scipy.signal.fftconvolve(voice, ir)[:len(voice)]
        snr_db = float(rng.uniform(15.0, 30.0))
        color = str(rng.choice(["white", "pink", "brown"]))
        noise = colored_noise(rng, len(wet), color) * rms(wet) * 10 ** (-snr_db / 20)
        meta.update(room, snr_db=round(snr_db, 3), noise=color)
        stems.update(wet=wet, noise=noise)
        mix = wet + noise
    gain = float(rng.uniform(0.3, 0.9)) / max(float(np.max(np.abs(mix))), 1e-9)
    meta["gain"] = gain
    return {"audio": mix * gain, "notes": _labels(notes, calibration[program]), "meta": meta, "stems": stems,
            "score": notes}


def song_name(condition: str, index: int) -> str:
    return f"{condition}_{index:03d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def generate(out: Path, *, songs: int = 8, seconds: float = 30.0, seed: int = 0,
             soundfont: Path = DEFAULT_SOUNDFONT, conditions=CONDITIONS, progress: bool = False) -> dict:
    """Generate (or reuse) the set under ``out``; returns its ``set.json`` content.

    A song is rendered unless its WAV, notes and meta files exist and ``set.json``
    records the same settings, fluidsynth version and soundfont.
    """
    if songs < 1:
        raise InputError(f"--songs {songs}: expected at least 1")
    if not 8.0 <= seconds <= 600.0:
        raise InputError(f"--seconds {seconds}: expected 8 to 600 s per song")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        raise InputError(f"--conditions {','.join(conditions)}: expected some of {','.join(CONDITIONS)}")
    _, version = find_fluidsynth(soundfont)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: not a folder")
    sf_stat = Path(soundfont).stat()
    settings = {"format_version": FORMAT_VERSION, "seed": seed, "seconds": seconds, "fluidsynth": version,
                "soundfont": str(soundfont), "soundfont_bytes": sf_stat.st_size}
    manifest_path = out / "set.json"
    old = {}
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            old = {}
    reuse = old.get("settings") == settings and isinstance(old.get("calibration"), dict)
    if reuse:
        calibration = {int(k): v for k, v in old["calibration"].items()}
        digest = old.get("soundfont_sha256")
    else:
        digest = _sha256(Path(soundfont))
    counts = dict(old.get("songs", {})) if reuse else {}
    if not reuse and manifest_path.is_file():  # a set of other settings: drop its songs
        for condition in CONDITIONS:
            for sub, ext in (("wav", "wav"), ("notes", "csv"), ("meta", "json")):
                for stale in (out / condition / sub).glob(f"{condition}_[0-9][0-9][0-9].{ext}"):
                    stale.unlink()
    with tempfile.TemporaryDirectory(prefix="gru_attn_crossgen_") as tmp:
        if not reuse:
            calibration = {p: calibrate(p, Path(soundfont), Path(tmp)) for p in VOICE_PROGRAMS}
        jobs = [(c, i) for c in conditions for i in range(songs)]
        for condition, index in tqdm(jobs, desc="crossgen", unit="song", disable=None if progress else True):
            name = song_name(condition, index)
            paths = [out / condition / sub / f"{name}.{ext}" for sub, ext in
                     (("wav", "wav"), ("notes", "csv"), ("meta", "json"))]
            if reuse and index < counts.get(condition, 0) and all(p.is_file() for p in paths):
                continue
            song = render_song(condition, index, seed=seed, seconds=seconds, soundfont=Path(soundfont),
                               workdir=Path(tmp), calibration=calibration)
            pcm = np.clip(np.rint(song["audio"] * 32767), -32768, 32767).astype(np.int16)
            with atomic_path(paths[0]) as wav_tmp:
                sf.write(str(wav_tmp), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            write_notes(song["notes"], paths[1])
            write_json(paths[2], song["meta"])
        for condition in conditions:
            counts[condition] = max(counts.get(condition, 0) if reuse else 0, songs)
    manifest = {"settings": settings, "soundfont_sha256": digest, "calibration": calibration, "songs": counts,
                "voices": VOICE_PROGRAMS}
    write_json(manifest_path, manifest)
    return manifest


# --------------------------------------------------------------------------- evaluation


def baseline_notes(audio: np.ndarray) -> NoteList:
    """The naive segmenter: Praat's contour -> notes by :func:`gru_attn.frames.pitch_to_notes`."""
    from gru_attn.labels import pitch_to_notes
    from gru_attn.pitch import track_pitch

    return pitch_to_notes(track_pitch(audio, "praat"))


def condition_dirs(out: Path, condition: str, songs: int) -> tuple[Path, Path]:
    """(wav dir, notes dir) of ``condition``; InputError unless it holds ``songs`` songs."""
    wav_dir, notes_dir = out / condition / "wav", out / condition / "notes"
    have = len(list(wav_dir.glob("*.wav"))) if wav_dir.is_dir() else 0
    if have < songs:
        raise InputError(f"{wav_dir}: {have} songs, expected {songs}; generate the set first")
    return wav_dir, notes_dir


def evaluate_set(ckpt: str, out: Path, *, songs: int, conditions=CONDITIONS, pitch_method: str | None = None,
                 device: str = "auto", progress: bool = False) -> dict:
    """Score a checkpoint and the baseline on songs ``0..songs-1`` of every condition.

    Returns ``{"checkpoint", "pitch_method", "songs", "rows": {system: {condition|"all":
    {metric: mean}}}, "per_song": {system: {song: metrics}}}`` with systems ``model`` and
    ``baseline``; ``all`` is the macro mean over every song of every condition.
    """
    from gru_attn.audio import load_audio
    from gru_attn.devices import resolve_device
    from gru_attn.evaluate import evaluate, evaluate_notes
    from gru_attn.inference import load_model
    from gru_attn.metrics import aggregate_note_metrics
    from gru_attn.notes import read_notes

    if pitch_method is not None and pitch_method not in METHODS:
        raise InputError(f"--pitch-method {pitch_method}: expected one of {', '.join(METHODS)}")
    device = resolve_device(device, option="--device")
    model, info = load_model(ckpt, device)
    if pitch_method is not None:
        info = dataclasses.replace(info, pitch_method=pitch_method)
    rows = {"model": {}, "baseline": {}}
    per_song = {"model": {}, "baseline": {}}
    for condition in conditions:
        wav_dir, notes_dir = condition_dirs(out, condition, songs)
        names = [song_name(condition, i) for i in range(songs)]
        items = []
        for name in names:
            path = wav_dir / f"{name}.wav"
            items.append((path, load_audio(path), read_notes(notes_dir / f"{name}.csv")))
        result = evaluate(model, info, iter(items), device=device, progress=progress)
        per_song["model"].update(result["per_song"])
        base_rows, _ = evaluate_notes({p.stem: ref for p, _, ref in items},
                                      {p.stem: baseline_notes(a) for p, a, _ in items})
        per_song["baseline"].update(base_rows)
        rows["model"][condition] = result["mean"]
        rows["baseline"][condition] = aggregate_note_metrics(list(base_rows.values()))
    for system in rows:
        rows[system]["all"] = aggregate_note_metrics(list(per_song[system].values()))
    return {"checkpoint": str(info.path), "epoch": info.epoch, "pitch_method": info.pitch_method, "songs": songs,
            "rows": rows, "per_song": per_song}


def format_markdown(results: dict) -> str:
    """A markdown table: one row per system and condition (then ``all``), F1 of COnPOff / COnP / COn."""
    lines = [f"checkpoint `{results['checkpoint']}` (pitch: {results['pitch_method']}), "
             f"{results['songs']} songs per condition",
             "", "| system | condition | COnPOff | COnP | COn |", "|---|---|---|---|---|"]
    labels = {"model": "model", "baseline": "praat + pitch_to_notes"}
    for system, by_condition in results["rows"].items():
        for condition, m in by_condition.items():
            lines.append(f"| {labels[system]} | {condition} | {m['COnPOff_f1']:.3f} | {m['COnP_f1']:.3f} "
                         f"| {m['COn_f1']:.3f} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gru_attn.crossgen", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"set folder (default: {DEFAULT_OUT})")
    parser.add_argument("--songs", type=int, default=8, help="songs per condition (default: 8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per song (default: 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default: 0)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help=f"comma-separated subset of {','.join(CONDITIONS)} (default: all)")
    parser.add_argument("--soundfont", default=str(DEFAULT_SOUNDFONT),
                        help=f"GM soundfont (default: {DEFAULT_SOUNDFONT})")
    parser.add_argument("--ckpt", help="evaluate this checkpoint on the set")
    parser.add_argument("--pitch-method", default=None, help="override the checkpoint's pitch tracker "
                        "(praat, world, harvest)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--report", default=None, help="folder for <checkpoint stem>.md/.json (default: <out>/report)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 missing tool, bad option, checkpoint or set)."""
    args = parse_args(argv)
    out = Path(args.out)
    conditions = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    progress = sys.stderr.isatty()
    try:
        if args.pitch_method is not None and args.pitch_method not in METHODS:
            raise InputError(f"--pitch-method {args.pitch_method}: expected one of {', '.join(METHODS)}")
        manifest = generate(out, songs=args.songs, seconds=args.seconds, seed=args.seed,
                            soundfont=Path(args.soundfont), conditions=conditions, progress=progress)
        print(f"cross-generator set in {out}: {args.songs} song(s) x {len(conditions)} condition(s) of "
              f"{args.seconds:g} s (seed {args.seed}; label delays {manifest['calibration']})")
        if not args.ckpt:
            return 0
        results = evaluate_set(args.ckpt, out, songs=args.songs, conditions=conditions,
                               pitch_method=args.pitch_method, device=args.device, progress=progress)
        report = Path(args.report) if args.report else out / "report"
        stem = Path(args.ckpt).stem if Path(args.ckpt).parent.name != "checkpoints" else \
            f"{Path(args.ckpt).parent.parent.name}_{Path(args.ckpt).stem}"
        table = format_markdown(results)
        write_text(report / f"{stem}.md", table)
        write_json(report / f"{stem}.json", results)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(table, end="")
    print(f"wrote {report / (stem + '.md')} and {report / (stem + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
