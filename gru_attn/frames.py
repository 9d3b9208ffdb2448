"""THE frame <-> time convention: the frame grid every module uses.

Frame grid (VOCANO's CFP extractor, see ``cfp.py``): audio at 16 kHz, hop 320
samples (20 ms). For ``N`` samples there are ``T = floor((N - 1) / 320)`` frames,
and frame ``k`` (0-based) is centred on sample ``320 * (k + 1)``, i.e. at
``(k + 1) * 0.02`` seconds. There is no frame at t = 0.

Per-frame labels on this grid (notes <-> targets, the pair names) live in
:mod:`gru_attn.labels`; Hz <-> MIDI in :mod:`gru_attn.notes`.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000  # Hz
HOP = 320  # samples per frame
HOP_SECONDS = HOP / SAMPLE_RATE  # 0.02 s


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
