"""Per-frame sdt6 probabilities (+ pitch contour) -> notes; shared by validation, evaluate and transcribe.

VOCANO-style decoding on the frame grid of :mod:`gru_attn.frames`:

1. The onset and offset curves are optionally smoothed (Hann window of
   ``smooth_frames`` taps, unit sum) and their peaks at or above the threshold are
   picked, at least ``peak_distance_frames`` apart (frames at either end count).
2. Each onset peak ``a`` starts a note that may last up to the next onset peak
   ``b`` (or the end of the input). The note ends at the earliest of

   - the first offset peak in ``(a, b]`` (an offset on the next onset's frame is
     allowed: adjacent notes);
   - the first *silence*: after the voiced curve has reached ``voiced_threshold``
     at or after ``a``, the first frame where it falls below it again and stays
     below for ``min_silence_frames`` frames (or until ``b``) - a shorter dip does
     not end the note. So when the voiced curve drops before the offset peak, the
     drop wins;
   - ``b`` itself (legato: the next note cuts this one).
3. A note is dropped when its onset peak lies in silence (the voiced curve stays
   below threshold for ``min_silence_frames`` frames from the onset), when fewer
   than ``min_voiced_fraction`` of its frames are voiced (voiced curve >=
   threshold), when it has fewer than ``min_note_frames`` frames, or when the pitch
   contour has no voiced frame (f0 > 0) inside it - a note never gets a made-up
   pitch.
4. Pitch = median of the contour (as fractional MIDI) over the note's frames with
   f0 > 0; rounded to the nearest semitone when ``round_pitch``.

A note covering frames ``[a, e)`` gets onset ``frame_to_time(a)`` and offset
``frame_to_time(e)``, the inverse of :func:`gru_attn.frames.notes_to_targets`, so
ideal 0/1 curves decode to the labelled notes up to half a hop (10 ms).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import find_peaks
from scipy.special import expit

from gru_attn.errors import InputError
from gru_attn.frames import contour_to_midi, frame_to_time
from gru_attn.notes import NoteList


@dataclass(frozen=True)
class DecodeParams:
    """Note-decoding settings (thresholds are probabilities, lengths are frames of 20 ms).

    - ``onset_threshold`` / ``offset_threshold``: minimum height of a picked peak;
    - ``voiced_threshold``: a frame is voiced when its voiced probability is >= this;
    - ``smooth_frames``: Hann smoothing of the onset/offset curves (0 or 1 = off);
    - ``peak_distance_frames``: minimum distance between two onset (or two offset) peaks;
    - ``min_note_frames``: shorter notes are dropped (3 frames = 60 ms);
    - ``min_silence_frames``: an unvoiced stretch at least this long is silence: it
      ends a note, and a note whose onset is followed by one is dropped;
    - ``min_voiced_fraction``: notes with a smaller share of voiced frames are dropped;
    - ``round_pitch``: round each note's pitch to the nearest semitone.
    """

    onset_threshold: float = 0.5
    offset_threshold: float = 0.5
    voiced_threshold: float = 0.5
    smooth_frames: int = 0
    peak_distance_frames: int = 3
    min_note_frames: int = 3
    min_silence_frames: int = 3
    min_voiced_fraction: float = 0.5
    round_pitch: bool = False

    def __post_init__(self):
        for name in ("onset_threshold", "offset_threshold", "voiced_threshold", "min_voiced_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"decode.{name} must be in [0, 1], got {getattr(self, name)}")
        for name, least in (("smooth_frames", 0), ("peak_distance_frames", 1), ("min_note_frames", 0),
                            ("min_silence_frames", 1)):
            value = getattr(self, name)
            if int(value) != value or value < least:
                raise InputError(f"decode.{name} must be a whole number of frames >= {least}, got {value}")

    def as_dict(self) -> dict:
        """Plain dict of the settings (for checkpoints and logs)."""
        return asdict(self)


def probs_from_logits(logits):
    """(..., 6) sdt6 logits (pairs [negative, positive]) -> (..., 3) positive-class probabilities.

    The 2-way softmax of each pair equals sigmoid(positive - negative). A torch tensor
    gives a torch tensor, anything else a float numpy array.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(logits, torch.Tensor):
        return torch.sigmoid(logits[..., 1::2] - logits[..., 0::2])
    logits = np.asarray(logits, dtype=np.float64)
    return expit(logits[..., 1::2] - logits[..., 0::2])


def decode_notes(probs, pitch_hz, params: DecodeParams | None = None) -> NoteList:
    """(T, 3) positive-class probabilities (voiced, onset, offset) + (T,) f0 in Hz -> NoteList.

    See the module docstring for the rules; ``params`` defaults to ``DecodeParams()``.
    """
    params = params or DecodeParams()
    probs = np.asarray(probs, dtype=np.float64)
    midi = contour_to_midi(pitch_hz)
    if probs.ndim != 2 or probs.shape[1] != 3 or len(midi) != len(probs):
        raise ValueError(f"decode_notes: expected probs (T, 3) and pitch (T,), got {probs.shape} and {midi.shape}")
    n = len(probs)
    voiced = probs[:, 0] >= params.voiced_threshold
    onsets = _peaks(probs[:, 1], params.onset_threshold, params)
    offsets = _peaks(probs[:, 2], params.offset_threshold, params)
    silence = _silence_starts(voiced, params.min_silence_frames)

    bounds = []
    for a, b in zip(onsets, np.r_[onsets[1:], n]):
        first_voiced = a + int(np.argmax(voiced[a:b])) if voiced[a:b].any() else b
        if first_voiced - a >= params.min_silence_frames:
            continue  # the onset lies in silence
        end = _first_silence(silence, voiced, first_voiced, b)
        k = np.searchsorted(offsets, a, side="right")  # first offset peak after a
        if k < len(offsets) and offsets[k] <= end:
            end = offsets[k]
        bounds.append((a, end))
    keep = [(a, e) for a, e in bounds
            if e - a >= max(params.min_note_frames, 1)
            and voiced[a:e].mean() >= params.min_voiced_fraction
            and not np.isnan(midi[a:e]).all()]
    if not keep:
        return NoteList.empty()
    keep = np.asarray(keep, dtype=np.int64)
    pitch = np.array([np.nanmedian(midi[a:e]) for a, e in keep])
    if params.round_pitch:
        pitch = np.rint(pitch)
    return NoteList(frame_to_time(keep[:, 0]), frame_to_time(keep[:, 1]), pitch)


def _peaks(curve: np.ndarray, threshold: float, params: DecodeParams) -> np.ndarray:
    """Sorted frame indices of the peaks of ``curve`` (optionally smoothed) with height >= threshold."""
    if params.smooth_frames > 1:
        window = np.hanning(params.smooth_frames + 2)[1:-1]
        curve = np.convolve(curve, window / window.sum(), mode="same")
    padded = np.r_[-np.inf, curve, -np.inf]  # lets a peak sit on the first or last frame
    peaks, _ = find_peaks(padded, height=threshold, distance=params.peak_distance_frames)
    return peaks - 1


def _silence_starts(voiced: np.ndarray, min_frames: int) -> np.ndarray:
    """(T,) bool: frame starts an unvoiced run of at least ``min_frames`` frames."""
    n = len(voiced)
    unvoiced = np.r_[False, ~voiced, False].astype(np.int8)
    edges = np.diff(unvoiced)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = np.zeros(n, dtype=bool)
    out[starts[stops - starts >= max(min_frames, 1)]] = True
    return out


def _first_silence(silence: np.ndarray, voiced: np.ndarray, start: int, bound: int) -> int:
    """First frame in ``(start, bound)`` that begins a silence (long, or lasting until ``bound``); else ``bound``."""
    if start >= bound:
        return bound
    unvoiced = np.flatnonzero(~voiced[start + 1:bound]) + start + 1
    if len(unvoiced) == 0:
        return bound
    long_ones = unvoiced[silence[unvoiced]]
    if len(long_ones):
        return int(long_ones[0])
    # a short dip counts only if it runs up to the bound (the note's region ends silent)
    last_voiced = start + int(np.flatnonzero(voiced[start:bound])[-1])
    return last_voiced + 1 if last_voiced + 1 < bound else bound
