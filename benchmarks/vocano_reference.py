"""VOCANO-shaped CFP extractor in plain numpy: the yardstick of bench_cfp.py and tests/test_cfp.py.

VOCANO cannot be installed here (it is not on PyPI and fetches weights at run time), so
this module restates its feature computation with the same kind of array operations and
memory layout, written from ``../shared/fixtures/vocano_cfp/README.md`` (items cited
below): per window one (8000, T) float64 matrix holding every zero-phase frame,
``scipy.fftpack.fft`` over axis 0, ``np.power`` for each nonlinearity (``^1`` included),
full complex ``np.fft.fft`` for the cepstrum and the generalised spectrum, filterbanks
built with loops and applied as dense products, then the flux and z-score blocks.

It shares no code with ``gru_attn.cfp``, so the tests use it as an independent literal
reading (it matches the fixture: ``tests/test_cfp.py``), and bench_cfp.py times it side
by side with ``gru_attn.cfp``. Slow (~15 s and ~1.4 GB for 60 s of audio): a yardstick,
not for use.
"""

from __future__ import annotations

import numpy as np
import scipy.fftpack
import scipy.signal

RATE, HOP, N_FFT = 16000, 320, 8000
WINDOWS = (186, 372, 743)
CENTRES = 80.0 * 2.0 ** (np.arange(175) / 48)  # Hz: 48 per octave from 80 Hz, all below 1000 Hz


def _stft_magnitude(x: np.ndarray, window: int) -> np.ndarray:
    """(8000, T) float64 ``|FFT|`` of every frame, frames as columns (items 1 and 2)."""
    h = scipy.signal.windows.blackmanharris(window)
    half = (window - 1) // 2
    frames = np.zeros((N_FFT, (x.size - 1) // HOP))
    for k in range(frames.shape[1]):
        centre = HOP * (k + 1) - 1
        tau = np.arange(-min(half, centre), min(half, x.size - 1 - centre))
        weights = h[half + tau - 1]  # index -1 wraps to h[W - 1]
        frames[tau % N_FFT, k] = x[centre + tau] * weights / np.linalg.norm(weights)
    return np.abs(scipy.fftpack.fft(frames, n=N_FFT, axis=0))


def _cut_power(x: np.ndarray, gamma: float, cut: int) -> np.ndarray:
    """Negatives and the first and last ``cut`` rows zeroed, then ``x ** gamma`` (item 3)."""
    x[x < 0] = 0
    x[:cut] = 0
    x[-cut:] = 0
    return np.power(x, gamma)


def _triangles(axis_hz: np.ndarray) -> np.ndarray:
    """(174, len(axis_hz)) triangular weights, strict inequalities, row 0 empty (items 4 and 5)."""
    bank = np.zeros((174, axis_hz.size))
    for r in range(1, 174):
        lo, mid, hi = CENTRES[r - 1], CENTRES[r], CENTRES[r + 1]
        for j, f in enumerate(axis_hz):
            if lo < f < mid:
                bank[r, j] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[r, j] = (hi - f) / (hi - mid)
    return bank


def layers(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tfrL0, tfrLF, tfrLQ), each (174, T) float64, of 16 kHz ``x`` (N,) for one window size."""
    spectrum = np.power(_stft_magnitude(x, window), 0.24)
    ceps = _cut_power(np.real(np.fft.fft(spectrum, axis=0)) / np.sqrt(N_FFT), 0.6, 16)
    gen = _cut_power(np.real(np.fft.fft(ceps, axis=0)) / np.sqrt(N_FFT), 1.0, 40)
    spec_fb = _triangles(RATE * np.linspace(0, 0.5, N_FFT // 2)[:501])
    quef_fb = _triangles(1.0 / (np.arange(201) / RATE + 1e-8))
    return spec_fb @ spectrum[:501], spec_fb @ gen[:501], quef_fb @ ceps[:201]


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def _flux(tfr: np.ndarray, sign: float) -> np.ndarray:
    diff = sign * np.hstack([np.zeros((tfr.shape[0], 1)), np.diff(tfr)])
    return _zscore(np.where(diff < 0, 0.0, diff))


def features(x: np.ndarray) -> np.ndarray:
    """(1566, T) float32 features, block order SN1-3, SIN1-3, ZN1-3 (as ``gru_attn.cfp.cfp_features``)."""
    per_window = [layers(x, window) for window in WINDOWS]
    blocks = (
        [_flux(l0, 1.0) for l0, _, _ in per_window]
        + [_flux(l0, -1.0) for l0, _, _ in per_window]
        + [_zscore(lf * lq) for _, lf, lq in per_window]
    )
    return np.concatenate(blocks).astype(np.float32)
