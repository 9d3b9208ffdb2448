"""Pitch contour on the CFP frame grid: audio -> (T,) f0 in Hz, 0 where unvoiced.

The output is VOCANO's ``*_pitch.npy``: one float64 value per 20 ms frame, frame
``k`` centred at ``(k + 1) * 0.02`` s, ``T = floor((N - 1) / 320)`` (see ``frames.py``).
Inference may instead take note pitches from the network itself (``pitch_method=model``,
the default for newly trained models: see :mod:`gru_attn.model`'s pitch head and
:func:`gru_attn.contract.model_pitch_contours`); this module holds the audio trackers.
The trackers are a registry of configs, one per tracker, ``conf/pitch/<name>.yaml``::

    _target_: gru_attn.pitch.praat   # (x (N,) float64 at 16 kHz, f0_floor, f0_ceil) -> (times s, f0 Hz)
    f0_floor: 65.0                   # Hz, the search range
    f0_ceil: 1100.0

A tracker is selected by its file name (``inference.pitch_method``, ``--pitch-method``;
checkpoints store the name); every list of methods in help and error messages is
:func:`tracker_names` / :func:`pitch_methods`. A new tracker = its function (anywhere
under ``gru_attn``) plus one config. The three shipped ones need no torchaudio or
downloaded weights:

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
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from gru_attn.config import CONF_DIR, instantiate
from gru_attn.errors import InputError
from gru_attn.frames import SAMPLE_RATE, frame_times, num_frames

# Folders of tracker configs ``<name>.yaml`` (the first holding a name wins); a test or a plugin may add one.
SEARCH_PATH = [CONF_DIR / "pitch"]
DEFAULT_METHOD = "praat"  # for checkpoints that name no method
MODEL_METHOD = (
    "model"  # the pitch method that reads the model's pitch head (contract.model_pitch_contours), not a tracker
)
ANALYSIS_STEP = 0.005  # s, the trackers' own frame step before sampling at the frame centres


def tracker_names() -> tuple[str, ...]:
    """Names of the audio trackers: the ``<name>.yaml`` files of :data:`SEARCH_PATH`, sorted."""
    return tuple(sorted({p.stem for folder in SEARCH_PATH for p in Path(folder).glob("*.yaml")}))


def pitch_methods() -> tuple[str, ...]:
    """What a checkpoint's (or an option's) pitch method may be: a tracker or ``"model"``."""
    return tracker_names() + (MODEL_METHOD,)


def tracker_config(method: str) -> dict:
    """The config of tracker ``method`` (``_target_``, ``f0_floor``, ``f0_ceil``) as a plain dict."""
    if method == MODEL_METHOD:
        raise InputError(
            "pitch method 'model' comes from the network's pitch head, not from audio; "
            f"track_pitch takes one of {', '.join(tracker_names())}"
        )
    for folder in SEARCH_PATH:
        path = Path(folder) / f"{method}.yaml"
        if path.is_file():
            config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
            if not isinstance(config, dict) or not {"_target_", "f0_floor", "f0_ceil"} <= set(config):
                raise InputError(f"{path}: a tracker config needs _target_, f0_floor and f0_ceil")
            return config
    raise InputError(f"pitch method {method!r}: expected one of {', '.join(tracker_names())}")


def track_pitch(
    audio: np.ndarray, method: str = DEFAULT_METHOD, f0_floor: float | None = None, f0_ceil: float | None = None
) -> np.ndarray:
    """f0 of ``audio`` ((N,) float samples at 16 kHz) per CFP frame.

    Returns (T,) float64 Hz, ``T = floor((N - 1) / 320)``, 0 where unvoiced.
    ``method`` is one of :func:`tracker_names`; ``f0_floor``/``f0_ceil`` bound the search
    in Hz (default: the tracker config's).
    """
    config = tracker_config(method)
    f0_floor = float(config["f0_floor"] if f0_floor is None else f0_floor)
    f0_ceil = float(config["f0_ceil"] if f0_ceil is None else f0_ceil)
    if not 0 < f0_floor < f0_ceil < SAMPLE_RATE / 2:
        raise InputError(f"pitch range {f0_floor}-{f0_ceil} Hz: expected 0 < floor < ceiling < 8000")
    x = np.asarray(audio)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating) or not np.all(np.isfinite(x)):
        raise InputError(
            f"pitch tracking: expected a 1-D array of finite float samples at 16 kHz, "
            f"got {x.dtype} array of shape {x.shape}"
        )
    n_frames = num_frames(len(x))
    if n_frames == 0:
        return np.zeros(0)
    tracker = instantiate(f"pitch/{method}", {"_target_": config["_target_"]}, _partial_=True)
    times, f0 = tracker(x.astype(np.float64), f0_floor, f0_ceil)
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


def world(x: np.ndarray, f0_floor: float, f0_ceil: float):
    """DIO + StoneMask at a 5 ms step: (times s, f0 Hz)."""
    pw = _pyworld()
    f0, t = pw.dio(x, SAMPLE_RATE, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=ANALYSIS_STEP * 1000)
    return t, pw.stonemask(x, f0, t, SAMPLE_RATE)


def harvest(x: np.ndarray, f0_floor: float, f0_ceil: float):
    """Harvest at a 5 ms step: (times s, f0 Hz)."""
    f0, t = _pyworld().harvest(x, SAMPLE_RATE, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=ANALYSIS_STEP * 1000)
    return t, f0


def praat(x: np.ndarray, f0_floor: float, f0_ceil: float):
    """Praat autocorrelation pitch at a 5 ms step: (times s, f0 Hz).

    Praat's window is 3 periods of ``f0_floor``; shorter audio is padded with trailing
    zeros to 4 periods, which leaves the times of the existing samples unchanged.
    """
    import parselmouth

    x = np.pad(x, (0, max(0, int(np.ceil(4 * SAMPLE_RATE / f0_floor)) - len(x))))
    pitch = parselmouth.Sound(x, sampling_frequency=SAMPLE_RATE).to_pitch_ac(
        time_step=ANALYSIS_STEP, pitch_floor=f0_floor, pitch_ceiling=f0_ceil
    )
    return pitch.xs(), pitch.selected_array["frequency"]


# The shipped trackers at import time (later additions to SEARCH_PATH: call tracker_names()).
METHODS = tracker_names()
INFERENCE_METHODS = pitch_methods()
