"""One cross-generator song of a condition: compose, write MIDI, render, mix (clean,
accompaniment or reverb) and label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gru_attn.tools.crossgen.compose import compose_melody, reference_labels
from gru_attn.tools.crossgen.midi import accompaniment_midi, voice_midi
from gru_attn.tools.crossgen.render import colored_noise, render_midi, rms, room_impulse

CONDITIONS = ("clean", "accompaniment", "reverb")
VOICE_PROGRAMS = {52: "Choir Aahs", 53: "Voice Oohs", 54: "Synth Voice"}  # GM programs, 0-based


def song_rng(seed: int, condition: str, index: int) -> np.random.Generator:
    """The generator of song ``index`` of ``condition`` (independent of the set's size)."""
    return np.random.default_rng([seed, CONDITIONS.index(condition), index])


def render_song(
    condition: str, index: int, *, seed: int, seconds: float, soundfont: Path, workdir: Path, calibration: dict
) -> dict:
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
    meta = {
        "condition": condition,
        "index": index,
        "program": program,
        "voice": VOICE_PROGRAMS[program],
        "key": key,
        "notes": len(notes),
        "melisma_glides": sum(1 for n in notes if n.glide and not n.dip_db),
        "voiced_consonants": sum(1 for n in notes if n.dip_db),
    }
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
        import scipy.signal

        ir, room = room_impulse(rng)
        wet = scipy.signal.fftconvolve(voice, ir)[: len(voice)]
        snr_db = float(rng.uniform(15.0, 30.0))
        color = str(rng.choice(["white", "pink", "brown"]))
        noise = colored_noise(rng, len(wet), color) * rms(wet) * 10 ** (-snr_db / 20)
        meta.update(room, snr_db=round(snr_db, 3), noise=color)
        stems.update(wet=wet, noise=noise)
        mix = wet + noise
    gain = float(rng.uniform(0.3, 0.9)) / max(float(np.max(np.abs(mix))), 1e-9)
    meta["gain"] = gain
    return {
        "audio": mix * gain,
        "notes": reference_labels(notes, calibration[program]),
        "meta": meta,
        "stems": stems,
        "score": notes,
    }


def song_name(condition: str, index: int) -> str:
    return f"{condition}_{index:03d}"
