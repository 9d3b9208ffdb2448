"""The singer's control grid and small signal helpers shared by the voice and the mix.

All contours (f0, voicing, level, formants) live on a 2.5 ms grid of ``CTRL_HOP``
samples at 16 kHz and are interpolated to samples when rendered.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gru_attn.frames import SAMPLE_RATE

CTRL_HOP = 40  # samples per control step: all contours are built on a 2.5 ms grid
CTRL_RATE = SAMPLE_RATE / CTRL_HOP  # 400 Hz; frame k's centre is control step 8 (k + 1)
MAX_PARTIAL_HZ = 7600.0  # no partial (voice or accompaniment) above this


def span(t0: float, t1: float, n_ctl: int) -> slice:
    """Control steps k with t0 <= k / CTRL_RATE < t1, clipped to [0, n_ctl)."""
    k0 = min(max(int(np.ceil(t0 * CTRL_RATE)), 0), n_ctl)
    k1 = min(max(int(np.ceil(t1 * CTRL_RATE)), k0), n_ctl)
    return slice(k0, k1)


def rise(u) -> np.ndarray:
    """Raised-cosine step: 0 for u <= 0, 1 for u >= 1."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def upsample(x: np.ndarray, n: int) -> np.ndarray:
    """Control-grid values (n_ctl,) -> (n,) samples by linear interpolation (step k = sample 40 k)."""
    return np.interp(np.arange(n) / CTRL_HOP, np.arange(len(x)), x)


def smooth(x: np.ndarray, seconds: float) -> np.ndarray:
    """Smooth (..., n_ctl) rows with a unit-sum Hann window of ``seconds``, edges held."""
    width = max(3, int(seconds * CTRL_RATE) | 1)
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    pad = [(0, 0)] * (x.ndim - 1) + [(width // 2, width // 2)]
    padded = np.pad(x, pad, mode="edge")
    return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="valid"), -1, padded)


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (0 for an empty array)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


@lru_cache(maxsize=None)
def _band(low: float, high: float) -> np.ndarray:
    """Second-order Butterworth band-pass ``low``-``high`` Hz as SOS."""
    from scipy import signal  # here, not at import: scipy.signal takes a second to load

    return signal.butter(2, (low, high), btype="bandpass", fs=SAMPLE_RATE, output="sos")


def band_noise(rng: np.random.Generator, band: tuple, n: int) -> np.ndarray:
    """(n,) white noise filtered to ``band`` (Hz), scaled to unit RMS."""
    from scipy import signal  # here, not at import: scipy.signal takes a second to load

    x = signal.sosfilt(_band(*band), rng.standard_normal(n))
    return x / max(rms(x), 1e-12)
