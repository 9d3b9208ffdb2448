"""The front end's files: feature and pitch ``.npy`` files, their loading and the one z-score.

File layout (VOCANO's names; written by ``python -m gru_attn.preprocess``)::

    <song>_feat.npy    (9 * n_bins, T) rows ``n_bins*b ... n_bins*b + n_bins - 1`` = block b,
                       or (9, n_bins, T); any real dtype (loaded as float32)
    <song>_pitch.npy   (T,) f0 in Hz, 0 = unvoiced; or VOCANO's (T, 2) [time s, Hz]

Normalisation happens once per path into the model:

- features computed from audio (:func:`gru_attn.cfp.cfp_features`) are already
  z-scored per block by the extractor and are used as they are;
- features read from a file are z-scored per block by :func:`zscore_blocks` (a no-op
  up to float32 round-off for VOCANO's own files, which are z-scored already; needed
  for files from other extractors).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gru_attn.errors import InputError
from gru_attn.files import check_readable

FEAT_SUFFIX = "_feat.npy"
PITCH_SUFFIX = "_pitch.npy"
N_CHANNELS = 9  # CFP blocks: SN1-3, SIN1-3, ZN1-3
MAX_TRIM_FRAMES = 2  # feature/pitch/label length differences up to this are trimmed; larger are errors


def load_npy(path) -> np.ndarray:
    """Read a real-valued, all-finite ``.npy`` array (no pickles); InputError naming ``path`` otherwise."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: file not found")
    check_readable(path, "a .npy file")  # a symlink loop, a folder, permission denied
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray) or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise InputError(f"{path}: expected a real-valued numeric array, got dtype {getattr(array, 'dtype', '?')}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InputError(f"{path}: contains NaN or infinite values")
    return array


def load_features(path, n_channels: int = N_CHANNELS) -> np.ndarray:
    """``(n_channels * n_bins, T)`` or ``(n_channels, n_bins, T)`` file -> (n_channels, n_bins, T) float32.

    Not normalised (see :func:`zscore_blocks`); n_bins is derived from the data.
    """
    feats = load_npy(path)
    expected = f"expected ({n_channels} * n_bins, T) rows stacked by block, or ({n_channels}, n_bins, T)"
    if feats.ndim == 2 and feats.shape[0] % n_channels == 0:
        feats = feats.reshape(n_channels, feats.shape[0] // n_channels, feats.shape[1])
    if feats.ndim != 3 or feats.shape[0] != n_channels or min(feats.shape) == 0:
        raise InputError(f"{path}: features have shape {feats.shape}; {expected}")
    return feats.astype(np.float32, copy=False)


def zscore_blocks(feats: np.ndarray, path) -> np.ndarray:
    """Z-score each block of (C, n_bins, T) float32 ``feats`` in place over its n_bins x T values.

    Population std, statistics in float64, no epsilon (as VOCANO). A constant block
    raises InputError naming ``path``. Returns ``feats``.
    """
    for b, block in enumerate(feats):
        mean = block.mean(dtype=np.float64)
        std = block.std(dtype=np.float64)
        if not std > 0:
            raise InputError(f"constant block {b} in {path}: cannot z-score features with zero spread")
        block -= np.float32(mean)
        block /= np.float32(std)
    return feats


def load_pitch(path) -> np.ndarray:
    """``(T,)`` Hz or VOCANO's ``(T, 2)`` [time s, Hz] file -> (T,) float64 Hz (0 = unvoiced, never negative)."""
    pitch = load_npy(path)
    if pitch.ndim == 2 and pitch.shape[1] == 2:
        pitch = pitch[:, 1]
    if pitch.ndim != 1:
        raise InputError(f"{path}: pitch has shape {pitch.shape}; expected (T,) Hz or (T, 2) [time s, Hz]")
    pitch = pitch.astype(np.float64)
    if (pitch < 0).any():
        raise InputError(f"{path}: negative pitch values (expected Hz >= 0, 0 = unvoiced)")
    return pitch


def read_features(path) -> np.ndarray:
    """A feature file -> (9, n_bins, T) float32, z-scored per block (the form the model takes)."""
    return zscore_blocks(load_features(path), path)
