"""Audio level on the frame grid: the loudness cue of the segment decoder's level-dip term.

:func:`level_db` gives the RMS level in dB of the 40 ms of audio centred on every 20 ms
frame of :mod:`gru_attn.frames` (frame ``k`` centred on sample ``320 (k + 1)``, so its
window is samples ``[320 k, 320 (k + 2))``; audio beyond the ends counts as silence).
The decoder (:class:`gru_attn.segments.SegmentDecoder`, ``level_db=``) reads dips of
this curve at legato re-attacks of repeated notes (experiments/reattack_dips).
"""

from __future__ import annotations

import numpy as np

from gru_attn.frames import HOP, num_frames

WINDOW = 2 * HOP  # 640 samples = 40 ms at 16 kHz
FLOOR_DB = -100.0  # level of silence (dB re full scale 1.0)


def level_db(audio, floor_db: float = FLOOR_DB) -> np.ndarray:
    """(T,) float64 frame level in dB (re an RMS of 1.0) of (N,) 16 kHz mono ``audio``.

    ``T = num_frames(N)``; value ``k`` is ``10 log10(mean(x^2))`` over samples
    ``[320 k, 320 k + 640)`` (40 ms centred on frame ``k``), floored at ``floor_db``.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"level_db: expected (N,) mono audio, got shape {x.shape}")
    n = num_frames(len(x))
    hops = np.zeros((n + 1) * HOP)  # hop blocks [320 j, 320 (j + 1)), j <= n, zero past the end
    used = min(len(x), len(hops))
    hops[:used] = x[:used] ** 2
    block = hops.reshape(n + 1, HOP).sum(axis=1)  # (T + 1,)
    power = (block[:-1] + block[1:]) / WINDOW
    floor = 10.0 ** (floor_db / 10.0)
    return 10.0 * np.log10(np.maximum(power, floor))


def level_for_frames(audio, n_frames: int) -> np.ndarray:
    """(n_frames,) :func:`level_db` of ``audio`` trimmed, or padded with its last value (the
    floor when there is none), to ``n_frames``: the frames of a model output that was
    trimmed to match a pitch contour (:func:`gru_attn.inference.transcribe_audio`)."""
    level = level_db(audio)
    fill = level[-1] if len(level) else FLOOR_DB
    return np.concatenate([level[:n_frames], np.full(max(0, n_frames - len(level)), fill)])
