"""VOCANO-shaped CFP extractor in plain numpy: the side-by-side speed reference of bench_cfp.py.

VOCANO cannot be installed here (it is not on PyPI and fetches weights at run time), so
this module restates its feature computation with the same kind of array operations and
memory layout, written from ``../shared/fixtures/vocano_cfp/README.md``: per window one
(8000, T) float64 matrix holding every zero-phase frame, ``scipy.fftpack.fft`` over axis
0, ``np.power`` for each nonlinearity (``^1`` included), full complex ``np.fft.fft`` for the
cepstrum and the generalised spectrum, dense filterbank products, then the flux and
z-score blocks. bench_cfp.py prints its error against the fixture (it computes the same
features) and times it in the same run as ``gru_attn.cfp``, so the speed-up it reports is
a ratio of two timings on one machine. Slow (~16 s and ~1.4 GB for 60 s of audio): a
yardstick, not for use.
"""

from __future__ import annotations

import numpy as np
import scipy.fftpack

from gru_attn import cfp
from gru_attn.frames import HOP, num_frames


def _stft_magnitude(x: np.ndarray, window: int) -> np.ndarray:
    """(8000, T) float64 ``|FFT|`` of every frame, frames as columns (zero-phase, item 1-2)."""
    h = cfp.blackman_harris(window)
    half = (window - 1) // 2
    frames = np.zeros((cfp.N_FFT, num_frames(x.size)))
    for k in range(frames.shape[1]):
        centre = HOP * (k + 1) - 1
        tau = np.arange(-min(half, centre), min(half, x.size - 1 - centre))
        weights = h[half + tau - 1]
        frames[tau % cfp.N_FFT, k] = x[centre + tau] * weights / np.linalg.norm(weights)
    return np.abs(scipy.fftpack.fft(frames, n=cfp.N_FFT, axis=0))


def _cut_power(x: np.ndarray, gamma: float, cut: int) -> np.ndarray:
    """Negatives and the first and last ``cut`` rows zeroed, then ``x ** gamma``."""
    x[x < 0] = 0
    x[:cut] = 0
    x[-cut:] = 0
    return np.power(x, gamma)


def layers(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tfrL0, tfrLF, tfrLQ), each (174, T) float64, of 16 kHz ``x`` (N,) for one window size."""
    spectrum = np.power(_stft_magnitude(x, window), cfp.GAMMAS[0])
    ceps = _cut_power(np.real(np.fft.fft(spectrum, axis=0)) / np.sqrt(cfp.N_FFT), cfp.GAMMAS[1], cfp.CEPS_CUT)
    gen = _cut_power(np.real(np.fft.fft(ceps, axis=0)) / np.sqrt(cfp.N_FFT), cfp.GAMMAS[2], cfp.SPEC_CUT)
    spec_fb, quef_fb = cfp.triangles(cfp.SPEC_AXIS_HZ), cfp.triangles(cfp.QUEF_AXIS_HZ)
    return spec_fb @ spectrum[:cfp.N_SPEC], spec_fb @ gen[:cfp.N_SPEC], quef_fb @ ceps[:cfp.N_QUEF]


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def _flux(tfr: np.ndarray, sign: float) -> np.ndarray:
    diff = sign * np.hstack([np.zeros((tfr.shape[0], 1)), np.diff(tfr)])
    return _zscore(np.where(diff < 0, 0.0, diff))


def features(x: np.ndarray) -> np.ndarray:
    """(1566, T) float32 features, block order SN1-3, SIN1-3, ZN1-3 (as ``cfp.cfp_features``)."""
    per_window = [layers(x, window) for window in cfp.WINDOW_SIZES]
    blocks = ([_flux(l0, 1.0) for l0, _, _ in per_window] + [_flux(l0, -1.0) for l0, _, _ in per_window]
              + [_zscore(lf * lq) for _, lf, lq in per_window])
    return np.concatenate(blocks).astype(np.float32)
