"""Pitch contour on the CFP frame grid: audio -> (T,) f0 in Hz, 0 where unvoiced.

The output is VOCANO's ``*_pitch.npy``: one float64 value per 20 ms frame, frame
``k`` centred at ``(k + 1) * 0.02`` s, ``T = floor((N - 1) / 320)`` (see ``frames.py``).
Inference may instead take note pitches from the network itself (``pitch_method=model``,
the default for newly trained models: see :mod:`gru_attn.model`'s pitch head and
:func:`gru_attn.decode.model_pitch_contours`); this module holds the audio trackers.
Three library-backed trackers, none needing torchaudio or downloaded weights:

- ``"world"``: pyworld DIO + StoneMask refinement (BSD).
- ``"harvest"``: pyworld Harvest (BSD); slow.
- ``"praat"``: Praat's autocorrelation method via praat-parselmouth (GPL-3), fast.

Every tracker analyses at a 5 ms step (DIO is more accurate there than at 20 ms) and
its contour is then sampled at the frame centres by :func:`sample_contour`. pyworld's
frames sit at ``i * 5 ms``, so the centres fall exactly on every fourth frame; Praat
centres its own frames, so its values are interpolated.

``"praat"`` is the default audio tracker (:data:`DEFAULT_METHOD`: ``preprocess``, and
checkpoints that name no method); where its GPL-3 licence matters, ``"world"`` (BSD) is
the alternative. These are monophonic trackers: under an accompaniment they may follow
bass or chord tones instead of the voice. Accuracy and speed per tracker and condition:
``benchmarks/bench_pitch.py``; dated results in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import warnings

import numpy as np

from gru_attn.errors import InputError
from gru_attn.frames import SAMPLE_RATE, frame_times, num_frames

METHODS = ("world", "harvest", "praat")  # the audio trackers of this module
MODEL_METHOD = "model"  # the network's own pitch head (gru_attn.decode.model_pitch_contours); inference only
INFERENCE_METHODS = METHODS + (MODEL_METHOD,)  # what a checkpoint's pitch_method may be
DEFAULT_METHOD = "praat"  # for checkpoints that name no method
F0_FLOOR = 65.0  # Hz, a little below MIDI 36
F0_CEIL = 1100.0  # Hz, a little above MIDI 85
ANALYSIS_STEP = 0.005  # s, the trackers' own frame step before sampling at the frame centres


def track_pitch(audio: np.ndarray, method: str = DEFAULT_METHOD, f0_floor: float = F0_FLOOR,
                f0_ceil: float = F0_CEIL) -> np.ndarray:
    """f0 of ``audio`` ((N,) float samples at 16 kHz) per CFP frame.

    Returns (T,) float64 Hz, ``T = floor((N - 1) / 320)``, 0 where unvoiced.
    ``method`` is one of ``METHODS``; ``f0_floor``/``f0_ceil`` bound the search in Hz.
    """
    if method == MODEL_METHOD:
        raise InputError("pitch method 'model' comes from the network's pitch head, not from audio; "
                         f"track_pitch takes one of {', '.join(METHODS)}")
    if method not in METHODS:
        raise InputError(f"pitch method {method!r}: expected one of {', '.join(METHODS)}")
    if not 0 < f0_floor < f0_ceil < SAMPLE_RATE / 2:
        raise InputError(f"pitch range {f0_floor}-{f0_ceil} Hz: expected 0 < floor < ceiling < 8000")
    x = np.asarray(audio)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating) or not np.all(np.isfinite(x)):
        raise InputError(f"pitch tracking: expected a 1-D array of finite float samples at 16 kHz, "
                         f"got {x.dtype} array of shape {x.shape}")
    n_frames = num_frames(len(x))
    if n_frames == 0:
        return np.zeros(0)
    x = x.astype(np.float64)
    times, f0 = _TRACKERS[method](x, f0_floor, f0_ceil)
    return sample_contour(times, f0, frame_times(n_frames))


def sample_contour(times: np.ndarray, f0: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Resample an f0 contour (Hz, 0 = unvoiced) given at ``times`` (s, increasing) to ``at`` (s).

    Between two voiced neighbours the value is interpolated linearly in log frequency;
    otherwise it is the nearest neighbour's (so voicing flips at the midpoint). Times
    outside ``times`` take the end value. Returns float64 with the shape of ``at``.
    """
    times = np.asarray(times, dtype=np.float64)
    f0 = np.asarray(f0, dtype=np.float64)
    at = np.asarray(at, dtype=np.float64)
    right = np.clip(np.searchsorted(times, at), 1, len(times) - 1)
    left = right - 1
    w = np.clip((at - times[left]) / (times[right] - times[left]), 0.0, 1.0)
    nearest = np.where(w < 0.5, f0[left], f0[right])
    both = (f0[left] > 0) & (f0[right] > 0)
    log_f = np.log(np.where(both, f0[left], 1.0)) * (1 - w) + np.log(np.where(both, f0[right], 1.0)) * w
    return np.where(both, np.exp(log_f), nearest)


def _pyworld():
    """Import pyworld, silencing its pkg_resources deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import pyworld
    return pyworld


def _world(x: np.ndarray, f0_floor: float, f0_ceil: float):
    """DIO + StoneMask at a 5 ms step: (times s, f0 Hz)."""
    pw = _pyworld()
    f0, t = pw.dio(x, SAMPLE_RATE, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=ANALYSIS_STEP * 1000)
    return t, pw.stonemask(x, f0, t, SAMPLE_RATE)


def _harvest(x: np.ndarray, f0_floor: float, f0_ceil: float):
    """Harvest at a 5 ms step: (times s, f0 Hz)."""
    f0, t = _pyworld().harvest(x, SAMPLE_RATE, f0_floor=f0_floor, f0_ceil=f0_ceil,
                               frame_period=ANALYSIS_STEP * 1000)
    return t, f0


def _praat(x: np.ndarray, f0_floor: float, f0_ceil: float):
    """Praat autocorrelation pitch at a 5 ms step: (times s, f0 Hz).

    Praat's window is 3 periods of ``f0_floor``; shorter audio is padded with trailing
    zeros to 4 periods, which leaves the times of the existing samples unchanged.
    """
    import parselmouth

    x = np.pad(x, (0, max(0, int(np.ceil(4 * SAMPLE_RATE / f0_floor)) - len(x))))
    pitch = parselmouth.Sound(x, sampling_frequency=SAMPLE_RATE).to_pitch_ac(
        time_step=ANALYSIS_STEP, pitch_floor=f0_floor, pitch_ceiling=f0_ceil)
    return pitch.xs(), pitch.selected_array["frequency"]


_TRACKERS = {"world": _world, "harvest": _harvest, "praat": _praat}


def frame_pitch_scores(estimate: np.ndarray, truth: np.ndarray) -> dict:
    """Frame-level pitch scores of ``estimate`` against ``truth`` (both (T,) Hz, 0 = unvoiced).

    ``RPA``: share of truly voiced frames estimated voiced and within 50 cents; ``RCA``:
    the same ignoring octave errors; ``recall``: share of truly voiced frames estimated
    voiced; ``FA``: share of truly unvoiced frames estimated voiced (mir_eval.melody's
    definitions). A score whose denominator is empty is NaN.
    """
    estimate, truth = np.asarray(estimate, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if estimate.shape != truth.shape:
        raise ValueError(f"frame_pitch_scores: shapes differ: {estimate.shape} vs {truth.shape}")
    voiced, guessed = truth > 0, estimate > 0
    both = voiced & guessed
    cents = np.zeros(len(truth))
    cents[both] = 1200 * np.log2(estimate[both] / truth[both])
    chroma = np.abs(cents - 1200 * np.round(cents / 1200))
    n_voiced, n_unvoiced = int(voiced.sum()), int((~voiced).sum())

    def share(count, total):
        return float(count) / total if total else float("nan")

    return {"RPA": share(np.sum(both & (np.abs(cents) <= 50)), n_voiced),
            "RCA": share(np.sum(both & (chroma <= 50)), n_voiced),
            "recall": share(np.sum(both), n_voiced),
            "FA": share(np.sum(guessed & ~voiced), n_unvoiced)}
