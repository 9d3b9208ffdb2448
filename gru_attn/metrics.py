"""Note-level (mir_eval COnPOff / COnP / COn) and frame-level (sdt6) metrics.

Note metrics follow the usual singing-transcription settings: onset tolerance 50 ms,
pitch tolerance 50 cents, and for COnPOff an offset tolerance of max(50 ms, 20 % of
the reference note's duration). Across songs they are averaged per song (macro
mean), the way per-song results are usually reported for MIR-ST500 / ISMIR2014.

Empty cases: a song with no reference and no estimated notes scores 1.0 on every
note metric (nothing to find, nothing wrongly found); when exactly one side is
empty, precision, recall and F1 are all 0.0.
"""

from __future__ import annotations

import warnings

import numpy as np

from gru_attn.labels import PAIR_NAMES
from gru_attn.notes import NoteList

ONSET_TOLERANCE = 0.05  # s
PITCH_TOLERANCE = 50.0  # cents
OFFSET_RATIO = 0.2  # of the reference duration
OFFSET_MIN_TOLERANCE = 0.05  # s

NOTE_METRICS = ("COnPOff", "COnP", "COn")
NOTE_METRIC_KEYS = tuple(f"{m}_{s}" for m in NOTE_METRICS for s in ("precision", "recall", "f1"))


def note_metrics(ref: NoteList, est: NoteList) -> dict:
    """COnPOff / COnP / COn precision, recall and F1 of ``est`` against ``ref``.

    Returns ``{"COnPOff_precision": ..., "COnPOff_recall": ..., "COnPOff_f1": ...,
    "COnP_...": ..., "COn_...": ...}`` (floats in [0, 1]); see the module docstring
    for the tolerances and the empty cases.
    """
    if len(ref) == 0 or len(est) == 0:
        value = 1.0 if len(ref) == len(est) else 0.0
        return {key: value for key in NOTE_METRIC_KEYS}
    import mir_eval  # here, not at import: mir_eval loads scipy.stats (a second) for its alignment metrics

    args = (ref.intervals, ref.hz, est.intervals, est.hz)
    out = {}
    with warnings.catch_warnings():  # mir_eval warns about e.g. very short notes; results stand
        warnings.simplefilter("ignore")
        scores = {
            "COnPOff": mir_eval.transcription.precision_recall_f1_overlap(
                *args,
                onset_tolerance=ONSET_TOLERANCE,
                pitch_tolerance=PITCH_TOLERANCE,
                offset_ratio=OFFSET_RATIO,
                offset_min_tolerance=OFFSET_MIN_TOLERANCE,
            )[:3],
            "COnP": mir_eval.transcription.precision_recall_f1_overlap(
                *args, onset_tolerance=ONSET_TOLERANCE, pitch_tolerance=PITCH_TOLERANCE, offset_ratio=None
            )[:3],
            "COn": mir_eval.transcription.onset_precision_recall_f1(
                ref.intervals, est.intervals, onset_tolerance=ONSET_TOLERANCE
            ),
        }
    for name, (p, r, f) in scores.items():
        out.update({f"{name}_precision": float(p), f"{name}_recall": float(r), f"{name}_f1": float(f)})
    return out


def aggregate_note_metrics(per_song: list[dict]) -> dict:
    """Macro mean of :func:`note_metrics` results over songs (NaN for every key when there are none)."""
    if not per_song:
        return {key: float("nan") for key in NOTE_METRIC_KEYS}
    return {key: float(np.mean([song[key] for song in per_song])) for key in NOTE_METRIC_KEYS}


# --------------------------------------------------------------------------- frames


class FrameMetricAccumulator:
    """Sums per-frame counts over songs or batches; :meth:`compute` turns them into metrics.

    A frame's decision is positive when its probability is ``>= threshold``. Metrics
    (all over every frame seen, i.e. micro-averaged):

    - ``voiced_acc``, ``onset_acc``, ``offset_acc``: accuracy of each 2-way decision;
    - ``voiced_f1``, ``onset_f1``, ``offset_f1``: F1 of the positive class, exact frame;
    - ``onset_f1_tol1``, ``offset_f1_tol1``: onset/offset F1 with +-1 frame tolerance:
      a predicted positive frame counts as correct when a target positive lies within
      one frame of it (precision), and a target positive counts as found when a
      predicted positive lies within one frame of it (recall).

    An F1 with no positive frame in either predictions or targets is 1.0; accuracies
    with no frame at all are NaN.
    """

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold
        self.counts = {key: 0 for key in self._count_keys()}

    @staticmethod
    def _count_keys():
        keys = ["frames"]
        for pair in PAIR_NAMES:
            keys += [f"{pair}_tp", f"{pair}_fp", f"{pair}_fn"]
        for pair in ("onset", "offset"):
            keys += [f"{pair}_pred", f"{pair}_pred_hit", f"{pair}_ref", f"{pair}_ref_hit"]
        return keys

    def update(self, probs, targets, mask=None) -> None:
        """Add one song or batch: ``probs`` (T, 3) or (B, T, 3) positive-class probabilities,
        ``targets`` the same shape in {0, 1}, ``mask`` (T,) / (B, T) bool of frames to count."""
        pred = _as_3d(probs) >= self.threshold
        ref = _as_3d(targets) > 0
        if pred.shape != ref.shape:
            raise ValueError(f"frame metrics: probs {pred.shape} and targets {ref.shape} differ")
        valid = np.ones(pred.shape[:2], dtype=bool) if mask is None else np.asarray(mask, bool).reshape(pred.shape[:2])
        m = valid[..., None]
        self.counts["frames"] += int(valid.sum())
        tp = (pred & ref & m).sum(axis=(0, 1))
        fp = (pred & ~ref & m).sum(axis=(0, 1))
        fn = (~pred & ref & m).sum(axis=(0, 1))
        for j, pair in enumerate(PAIR_NAMES):
            self.counts[f"{pair}_tp"] += int(tp[j])
            self.counts[f"{pair}_fp"] += int(fp[j])
            self.counts[f"{pair}_fn"] += int(fn[j])
        for j, pair in ((1, "onset"), (2, "offset")):
            p, r = pred[..., j] & valid, ref[..., j] & valid
            self.counts[f"{pair}_pred"] += int(p.sum())
            self.counts[f"{pair}_pred_hit"] += int((p & _dilate1(r)).sum())
            self.counts[f"{pair}_ref"] += int(r.sum())
            self.counts[f"{pair}_ref_hit"] += int((r & _dilate1(p)).sum())

    def compute(self) -> dict:
        """Metrics over everything added so far (see the class docstring for the keys)."""
        c, out = self.counts, {}
        for pair in PAIR_NAMES:
            tp, fp, fn = c[f"{pair}_tp"], c[f"{pair}_fp"], c[f"{pair}_fn"]
            out[f"{pair}_acc"] = (c["frames"] - fp - fn) / c["frames"] if c["frames"] else float("nan")
            out[f"{pair}_f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        for pair in ("onset", "offset"):
            n_pred, n_ref = c[f"{pair}_pred"], c[f"{pair}_ref"]
            if n_pred == 0 and n_ref == 0:
                out[f"{pair}_f1_tol1"] = 1.0
                continue
            precision = c[f"{pair}_pred_hit"] / n_pred if n_pred else 0.0
            recall = c[f"{pair}_ref_hit"] / n_ref if n_ref else 0.0
            out[f"{pair}_f1_tol1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return out


def frame_metrics(probs, targets, threshold: float = 0.5, mask=None) -> dict:
    """Frame metrics of one song or batch; see :class:`FrameMetricAccumulator` for the keys."""
    acc = FrameMetricAccumulator(threshold)
    acc.update(probs, targets, mask)
    return acc.compute()


def _as_3d(x) -> np.ndarray:
    """(T, 3) or (B, T, 3) array-like (numpy or torch) -> (B, T, 3) numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"frame metrics: expected (T, 3) or (B, T, 3), got {x.shape}")
    return x


def _dilate1(x: np.ndarray) -> np.ndarray:
    """(B, T) bool -> True where x is True at t-1, t or t+1."""
    out = x.copy()
    out[:, 1:] |= x[:, :-1]
    out[:, :-1] |= x[:, 1:]
    return out


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

    return {
        "RPA": share(np.sum(both & (np.abs(cents) <= 50)), n_voiced),
        "RCA": share(np.sum(both & (chroma <= 50)), n_voiced),
        "recall": share(np.sum(both), n_voiced),
        "FA": share(np.sum(guessed & ~voiced), n_unvoiced),
    }
