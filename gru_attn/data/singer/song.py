"""One song from ``(seed, split, index)``: random streams, score, voice, mix, int16, labels.

:func:`render_song` draws the singer and the score (``score``), sings it (``voice``), adds
accompaniment, room and recording chain (``mix``), then a faint noise floor and a peak
level, and quantises to 16 bits; the labels and the true f0 per frame come from the voice.

Determinism: song ``i`` of split ``s`` draws from ``numpy`` generators seeded by
``(seed, s, i)`` (separate streams for its length, the voice, the accompaniment, the
room and the recording chain), so a song does not depend on the other songs or on the
split sizes, and the voice and labels do not depend on the mix. Same arguments, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gru_attn.data.singer.control import CTRL_HOP, rms
from gru_attn.data.singer.mix import apply_recording_chain, apply_reverb, render_accompaniment
from gru_attn.data.singer.score import compose, draw_singer
from gru_attn.data.singer.voice import Phonemes, render_voice
from gru_attn.errors import InputError
from gru_attn.frames import HOP, SAMPLE_RATE, num_frames
from gru_attn.notes import NoteList

SINGER_VERSION = 3  # bump whenever the rendered audio or labels change
SPLITS = ("train", "val", "test")
VOICED_SHAPE = 0.1  # voicing-envelope level from which a frame counts as voiced


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


def song_length(seed: int, split: str, index: int, song_seconds=(20, 40)) -> float:
    """Target length in s of song ``index`` of ``split`` (drawn from ``song_seconds``)."""
    return float(_song_streams(seed, split, index)[0].uniform(*song_seconds))


def _draw(rng: np.random.Generator, value) -> float:
    """``value`` itself, or a uniform draw from it when it is a (lo, hi) range."""
    return float(value) if np.isscalar(value) else float(rng.uniform(*value))


def render_song(
    seed: int,
    split: str,
    index: int,
    song_seconds=(20, 40),
    accompaniment_db=None,
    reverb=0.0,
    accompaniment_share: float = 1.0,
    recording_chain: bool = False,
    keep_stems: bool = False,
    reattack_share: float = 0.0,
) -> Song:
    """Synthesize song ``index`` of ``split`` -> :class:`Song` (int16 audio, notes, true f0 per
    frame, syllable timing, the drawn conditions in ``info``).

    ``accompaniment_db``: vocal-to-accompaniment RMS ratio in dB, or ``(lo, hi)`` to draw
    it per song, or None for none; ``accompaniment_share``: the share of songs in [0, 1]
    that get it (see :func:`accompanied`); ``reverb``: room reverb amount in [0, 1]
    (0 = dry), or ``(lo, hi)`` to draw it per song; ``recording_chain``: microphone
    colouring and background noise (:func:`apply_recording_chain`); ``keep_stems``: also
    return the voice and accompaniment before the room in ``stems``. The voice and the
    labels depend on none of these. ``reattack_share``: the share in [0, 1] of legato
    same-pitch repeats sung as a re-attack of the vowel (no consonant; a voicing dip);
    at 0 the voice is the same as before this option existed.
    """
    if split not in SPLITS:
        raise InputError(f"synthetic song split {split!r}: expected one of {', '.join(SPLITS)}")
    seconds = song_length(seed, split, index, song_seconds)
    _, voice_rng, band_rng, room_rng, chain_rng = _song_streams(seed, split, index)
    singer = draw_singer(voice_rng)
    score = compose(voice_rng, singer, seconds)
    n = int(round(score.end * SAMPLE_RATE))
    voice, f0_hz, shape, phonemes, offsets = render_voice(voice_rng, score, singer, n, reattack_share)
    info = {
        "singer": {
            "phonation": singer.phonation,
            "formant_scale": singer.formant_scale,
            "range": [singer.low, singer.high],
        },
        "accompaniment": None,
    }
    band = np.zeros(n)
    if accompaniment_db is not None and accompanied(seed, split, index, accompaniment_share):
        ratio = _draw(band_rng, accompaniment_db)
        unit, layers = render_accompaniment(band_rng, score, n)
        band = unit * rms(voice) * 10 ** (-ratio / 20)
        info["accompaniment"] = {"db": ratio, **layers}
    mix = voice + band
    info["reverb"] = amount = _draw(room_rng, reverb)
    if amount > 0:
        mix = apply_reverb(room_rng, mix, amount)
    info["recording_chain"] = None
    if recording_chain:
        mix, info["recording_chain"] = apply_recording_chain(chain_rng, mix)
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
