"""The pitch validation decodes with, from a corpus's audio (the data side of training).

:func:`validation_pitch` turns a checkpoint's ``inference.pitch_method`` and the folder of
the corpus's audio (``Corpus.wav_dir`` of :mod:`gru_attn.corpus`) into what
:func:`gru_attn.engine.validate` takes: a :class:`TrackerPitch` (song -> (T,) Hz), a
:class:`HeadPitch` (song -> None: the model's pitch head), or None (the corpus's true f0).
The engine itself reads no audio and knows no pitch method names. Likewise
:func:`validation_level` gives validation the audio level (:func:`gru_attn.level.level_db`)
that the segment decoder's level-dip term reads.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gru_attn.audio import load_audio
from gru_attn.errors import InputError
from gru_attn.files import save_npy
from gru_attn.level import level_for_frames
from gru_attn.pitch import MODEL_METHOD, pitch_methods, track_pitch

log = logging.getLogger(__name__)


class TrackerPitch:
    """Validation pitch of an audio tracker: ``pitch(song)`` -> (T,) Hz for ``song.name``.

    Reads ``<wav_dir>/<song>.wav``, tracks it with ``method`` once and caches the
    contour as ``<cache_dir>/<song>_pitch.npy`` (atomic write); the contour is trimmed
    or zero-padded to the song's frames. Without ``wav_dir`` (e.g. a VOCANO-layout
    corpus, whose pitch files are a tracker's output of the audio) it returns the
    song's own pitch contour.
    """

    def __init__(self, method: str, wav_dir=None, cache_dir=None):
        self.method = method
        self.wav_dir = Path(wav_dir) if wav_dir is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def __call__(self, song) -> np.ndarray:
        if self.wav_dir is None:
            return np.asarray(song.pitch, dtype=np.float64)
        cached = self.cache_dir / f"{song.name}_pitch.npy" if self.cache_dir is not None else None
        if cached is not None and cached.is_file():
            pitch = np.load(cached, allow_pickle=False)
        else:
            pitch = track_pitch(load_audio(self.wav_dir / f"{song.name}.wav"), self.method)
            if cached is not None:
                save_npy(cached, pitch)
        n = song.n_frames
        return np.pad(pitch[:n], (0, max(0, n - len(pitch))))


class HeadPitch:
    """Validation pitch of ``pitch_method=model``: ``pitch(song)`` -> None, i.e. decode with
    the model's own pitch head (the engine checks that the model has one)."""

    def __call__(self, song) -> None:
        return None


def validation_pitch(method: str | None, wav_dir=None):
    """What validation decodes with for the checkpoint's pitch ``method``: a :class:`HeadPitch`
    (``"model"``: the model's pitch head), a :class:`TrackerPitch`, or None (the corpus's true f0: no method).

    ``wav_dir``: the corpus's ``<song>.wav`` folder (None: none known, so the tracker
    stands in with the corpus's own pitch files, logged); tracked contours are cached in
    ``<wav_dir>/../pitch_<method>/``.
    """
    if method is None:
        return None
    if method not in pitch_methods():
        raise InputError(f"inference.pitch_method={method!r}: expected one of {', '.join(pitch_methods())}")
    if method == MODEL_METHOD:
        return HeadPitch()
    if wav_dir is None:
        log.info(
            "validation pitch: no audio for the %s tracker (set data.wav_dir); decoding with the corpus's pitch files",
            method,
        )
        return TrackerPitch(method)
    wav_dir = Path(wav_dir)
    return TrackerPitch(method, wav_dir, wav_dir.parent / f"pitch_{method}")


class ValidationLevel:
    """Validation audio level: ``level(song)`` -> (T,) dB of ``<wav_dir>/<song>.wav`` on the
    song's frames (:func:`gru_attn.level.level_for_frames`), or None when the song has no
    audio file. Computed once per song and kept in memory (a float per frame)."""

    def __init__(self, wav_dir):
        self.wav_dir = Path(wav_dir)
        self._levels: dict[str, np.ndarray | None] = {}

    def __call__(self, song) -> np.ndarray | None:
        if song.name not in self._levels:
            path = self.wav_dir / f"{song.name}.wav"
            self._levels[song.name] = level_for_frames(load_audio(path), song.n_frames) if path.is_file() else None
        return self._levels[song.name]


def validation_level(decoder, wav_dir=None):
    """What validation gives the decoder as the audio level: a :class:`ValidationLevel` when
    ``decoder`` reads one (its ``reads_level``: a level term of :class:`gru_attn.segments.SegmentDecoder` is on)
    and the corpus has audio (``wav_dir``), else None (decoded without the level; logged
    when the decoder would read it)."""
    if not getattr(decoder, "reads_level", False):
        return None
    if wav_dir is None:
        log.info("validation level: no audio (set data.wav_dir); decoding without the level-dip term")
        return None
    return ValidationLevel(wav_dir)
