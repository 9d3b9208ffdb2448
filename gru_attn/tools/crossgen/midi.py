"""The cross-generator's MIDI files: the melody on rotating voice channels, and an accompaniment.

A note sounds on its own channel (legato groups share one), starts silently ``PREROLL`` s
early, fades by CC11 (expression) ramps and moves in pitch by pitch bends (vibrato,
glides, scoops); rendering is :mod:`gru_attn.tools.crossgen.render`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gru_attn.tools.crossgen.compose import MAJOR, MINOR, Note

PREROLL = 0.25  # s a note's sample starts (silent, CC11 = 0) before its scheduled start
RAMP_IN = 0.02  # s, CC11 rise at a note's start
RAMP_OUT = 0.04  # s, CC11 fall at a note's end
TAIL = 0.7  # s a channel rests after a note's end before its next pre-roll (release tails die)
BEND_RANGE = 12  # semitones of pitch-bend range, set by RPN 0 on every voice channel
VOICE_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 7)  # never 9 (GM drums)
EVENT_STEP = 0.005  # s between pitch-bend / CC11 events of a contour


def assign_channels(notes: list[Note]) -> None:
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


def _bend_value(semitones: float) -> int:
    return int(np.clip(round(semitones / BEND_RANGE * 8192), -8192, 8191))


def voice_midi(notes: list[Note], program: int, path: Path) -> None:
    """Write the melody as a MIDI file: per note a silent pre-roll, CC11 ramps for its
    dynamics, pitch bends for vibrato (after a 0.15-0.25 s attack) and legato glides.
    Assigns the notes' channels first (:func:`assign_channels`)."""
    import pretty_midi

    assign_channels(notes)
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
        _group_events(notes[i : j + 1], insts[notes[i].channel], pretty_midi)
        i = j + 1
    # pretty_midi writes one track per instrument; channels follow instrument order (skipping 9)
    pm.instruments = [insts[c] for c in sorted(insts)]
    pm.write(str(path))


def _group_events(group: list[Note], inst, pretty_midi) -> None:
    """Events of one legato group (one note-on at the first pitch; later pitches by bend)."""
    anchor = group[0].pitch
    start, end = group[0].start, group[-1].end
    inst.notes.append(pretty_midi.Note(velocity=group[0].velocity, pitch=anchor, start=start - PREROLL, end=end + 0.01))
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
                bass.notes.append(pretty_midi.Note(int(rng.integers(70, 100)), root, on, min(on + 1.9 * beat, seconds)))
        t += bar_len
        bar += 1
    pm.instruments = [chords, bass]
    pm.write(str(path))
    return {
        "accompaniment": kind,
        "program": program,
        "bass_program": bass_program,
        "pattern": pattern,
        "progression": list(progression),
    }
