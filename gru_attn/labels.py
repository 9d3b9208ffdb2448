"""Labels: reference notes <-> per-frame targets on the frame grid of :mod:`gru_attn.frames`.

Targets ("sdt6"): three two-way decisions per frame, stored as ``(T, 3)`` uint8
with columns ``(voiced, onset, offset)`` (:data:`PAIR_NAMES`); the model's 6 sdt6
logits are the pairs ``(silence, voiced), (not-onset, onset), (not-offset, offset)``
in that order (:data:`SDT6_NAMES`), so pair ``j`` is logits ``[2j, 2j + 1]`` and
class 1 is the positive event. These two lists are the package's only names for the
pairs (loss, metrics and plots read them here).

- a frame is *voiced* when its time ``t`` lies in ``[onset, offset)`` of a note;
- the *onset* frame of a note is the frame nearest its onset time;
- the *offset* frame of a note is the frame nearest its offset time.

Decoding maps an onset/offset frame ``k`` back to ``frame_to_time(k)``, so a round
trip notes -> targets -> notes (:func:`gru_attn.decode.notes_from_targets`) is exact
up to half a hop (10 ms).
"""

from __future__ import annotations

import numpy as np

from gru_attn.frames import frame_times, frame_to_time, time_to_frame
from gru_attn.notes import NoteList, hz_to_midi

SDT6_NAMES = ("silence", "voiced", "not_onset", "onset", "not_offset", "offset")  # (negative, positive) pairs
PAIR_NAMES = SDT6_NAMES[1::2]  # ("voiced", "onset", "offset"): the target columns, each pair's positive class


def notes_to_targets(onsets, offsets, n_frames: int) -> np.ndarray:
    """Note times in seconds -> (T, 3) uint8 targets (voiced, onset, offset) on the frame grid.

    Notes (or parts of notes) outside the grid are clipped; onset/offset events that
    fall outside ``[0, T)`` are dropped.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    targets = np.zeros((n_frames, 3), dtype=np.uint8)
    t = frame_times(n_frames)
    # voiced: onset <= t < offset, via first frame index at or after each bound
    first = np.searchsorted(t, onsets, side="left")
    stop = np.searchsorted(t, offsets, side="left")
    delta = np.zeros(n_frames + 1, dtype=np.int64)
    np.add.at(delta, np.clip(first, 0, n_frames), 1)
    np.add.at(delta, np.clip(stop, 0, n_frames), -1)
    targets[:, 0] = np.cumsum(delta[:-1]) > 0
    for col, times in ((1, onsets), (2, offsets)):
        k = time_to_frame(times)
        k = k[(k >= 0) & (k < n_frames)]
        targets[k, col] = 1
    return targets


def widen_events(targets: np.ndarray, width: int) -> np.ndarray:
    """(T, 3) {0,1} targets -> a copy whose onset and offset columns are also 1 within
    ``width`` frames either side of each labelled event (clipped to the song); the voiced
    column is unchanged. ``width`` 0 returns an unchanged copy.

    Training targets only: decoding still places an event at the peak of the curve, and
    the metrics score against the notes, not these targets.
    """
    targets = np.array(targets, dtype=np.uint8, copy=True)
    width = int(width)
    if width < 0:
        raise ValueError(f"width must be >= 0, got {width}")
    if width == 0 or targets.shape[0] == 0:
        return targets
    events = targets[:, 1:].copy()
    for d in range(1, width + 1):
        events[d:] |= targets[:-d, 1:]
        events[:-d] |= targets[d:, 1:]
    targets[:, 1:] = events
    return targets


def targets_to_sdt6(targets: np.ndarray) -> np.ndarray:
    """(T, 3) {0,1} targets -> (T, 6) float32 one-hot pairs in ``SDT6_NAMES`` order."""
    targets = np.asarray(targets).astype(np.float32)
    out = np.empty((targets.shape[0], len(SDT6_NAMES)), dtype=np.float32)
    out[:, 0::2] = 1.0 - targets
    out[:, 1::2] = targets
    return out


def sdt6_to_targets(sdt6: np.ndarray) -> np.ndarray:
    """(T, 6) one-hot/probability pairs -> (T, 3) uint8 targets (positive class wins)."""
    sdt6 = np.asarray(sdt6)
    return (sdt6[:, 1::2] > sdt6[:, 0::2]).astype(np.uint8)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encoding of a 1-D integer array: (starts, stops) of maximal constant runs."""
    if len(values) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero(np.diff(values)) + 1
    return np.r_[0, change], np.r_[change, len(values)]


def pitch_to_notes(pitch_hz, min_frames: int = 3, semitone_change_frames: int = 5, round_pitch: bool = True):
    """Heuristic notes from a pitch contour, for datasets that only have pitch files.

    ``pitch_hz``: (T,) f0 in Hz on the frame grid (0, negative or NaN = unvoiced).
    Each voiced run is one note unless the contour, rounded to the nearest semitone,
    moves to a different semitone and stays there for at least
    ``semitone_change_frames`` frames; shorter excursions (vibrato, scoops, glides
    through intermediate semitones) do not split a note. A new note starts where the
    contour last left the previous note's semitone, i.e. at the start of the
    transition. Notes shorter than ``min_frames`` frames are dropped. A note
    covering frames ``[a, b)`` gets onset ``frame_to_time(a)`` and offset
    ``frame_to_time(b)``, so ``notes_to_targets`` maps it back onto the same frames.
    Its pitch is the median of the contour in MIDI, rounded to the nearest semitone
    when ``round_pitch``.

    Returns a :class:`gru_attn.notes.NoteList` sorted by onset.
    """
    midi = hz_to_midi(np.asarray(pitch_hz, dtype=np.float64).reshape(-1))
    unvoiced = np.iinfo(np.int64).min  # semitone code of unvoiced frames
    semis = np.full(midi.shape, unvoiced, dtype=np.int64)
    voiced = ~np.isnan(midi)
    semis[voiced] = np.rint(midi[voiced])
    starts, stops = _runs(semis)
    notes = []  # [first frame, stop frame) of each note
    in_voiced = False
    current = None  # semitone of the open note; None until a sustained run settles it
    last_at_current = 0  # stop frame of the latest run at the current semitone
    for start, stop, semi in zip(starts, stops, semis[starts]):
        if semi == unvoiced:  # unvoiced run: the open note (if any) has ended
            in_voiced, current = False, None
            continue
        if not in_voiced:  # a voiced run begins: open a note
            notes.append([start, stop])
            in_voiced = True
        if stop - start >= semitone_change_frames and semi != current:
            if current is not None:  # sustained move to another semitone: split
                notes[-1][1] = last_at_current
                notes.append([last_at_current, stop])
            current = semi
        notes[-1][1] = stop
        if semi == current:
            last_at_current = stop
    bounds = np.array([b for b in notes if b[1] - b[0] >= min_frames], dtype=np.int64).reshape(-1, 2)
    pitch = np.array([np.median(midi[a:b]) for a, b in bounds])
    if round_pitch:
        pitch = np.rint(pitch)
    return NoteList(frame_to_time(bounds[:, 0]), frame_to_time(bounds[:, 1]), pitch)
