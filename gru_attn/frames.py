"""THE frame <-> time convention, and note lists <-> per-frame sdt6 targets.

Every module that turns frame indices into seconds (labels, decoding, plots) uses
this file, so the convention lives in one place.

Frame grid (VOCANO's CFP extractor, see ``cfp.py``): audio at 16 kHz, hop 320
samples (20 ms). For ``N`` samples there are ``T = floor((N - 1) / 320)`` frames,
and frame ``k`` (0-based) is centred on sample ``320 * (k + 1)``, i.e. at
``(k + 1) * 0.02`` seconds. There is no frame at t = 0.

Targets ("sdt6"): three two-way decisions per frame, stored as ``(T, 3)`` uint8
with columns ``(voiced, onset, offset)``; the model's 6 logits are the pairs
``(silence, voiced), (not-onset, onset), (not-offset, offset)`` in that order, so
pair ``j`` is logits ``[2j, 2j + 1]`` and class 1 is the positive event.

- a frame is *voiced* when its time ``t`` lies in ``[onset, offset)`` of a note;
- the *onset* frame of a note is the frame nearest its onset time;
- the *offset* frame of a note is the frame nearest its offset time.

Decoding maps an onset/offset frame ``k`` back to ``frame_time(k)``, so a round
trip notes -> targets -> notes is exact up to half a hop (10 ms).
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000  # Hz
HOP = 320  # samples per frame
HOP_SECONDS = HOP / SAMPLE_RATE  # 0.02 s

PAIR_NAMES = ("voiced", "onset", "offset")
SDT6_NAMES = ("silence", "voiced", "not_onset", "onset", "not_offset", "offset")


def num_frames(n_samples: int) -> int:
    """Number of CFP frames for ``n_samples`` samples at 16 kHz: floor((N - 1) / 320), >= 0."""
    return max(0, (int(n_samples) - 1) // HOP)


def frame_times(n_frames: int) -> np.ndarray:
    """(T,) float64 centre time in seconds of every frame: (k + 1) * 0.02."""
    return (np.arange(n_frames, dtype=np.float64) + 1.0) * HOP_SECONDS


def frame_to_time(frames) -> np.ndarray:
    """Frame index (any shape) -> centre time in seconds."""
    return (np.asarray(frames, dtype=np.float64) + 1.0) * HOP_SECONDS


def time_to_frame(seconds) -> np.ndarray:
    """Time in seconds (any shape) -> index of the nearest frame (int64, may fall outside [0, T))."""
    return np.rint(np.asarray(seconds, dtype=np.float64) / HOP_SECONDS - 1.0).astype(np.int64)


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


def targets_to_sdt6(targets: np.ndarray) -> np.ndarray:
    """(T, 3) {0,1} targets -> (T, 6) float32 one-hot pairs in ``SDT6_NAMES`` order."""
    targets = np.asarray(targets).astype(np.float32)
    out = np.empty((targets.shape[0], 6), dtype=np.float32)
    out[:, 0::2] = 1.0 - targets
    out[:, 1::2] = targets
    return out


def sdt6_to_targets(sdt6: np.ndarray) -> np.ndarray:
    """(T, 6) one-hot/probability pairs -> (T, 3) uint8 targets (positive class wins)."""
    sdt6 = np.asarray(sdt6)
    return (sdt6[:, 1::2] > sdt6[:, 0::2]).astype(np.uint8)
