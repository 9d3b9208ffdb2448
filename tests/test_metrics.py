"""Note metrics (mir_eval COnPOff / COnP / COn) and frame metrics."""

from __future__ import annotations

import warnings

import mir_eval
import numpy as np
import pytest
import torch

from gru_attn.metrics import (
    NOTE_METRIC_KEYS,
    FrameMetricAccumulator,
    aggregate_note_metrics,
    frame_metrics,
    note_metrics,
)
from gru_attn.notes import NoteList

REF = NoteList.from_rows([[0.10, 0.50, 60], [0.50, 0.90, 62], [1.20, 1.60, 64], [2.0, 3.0, 65], [3.0, 3.2, 67]])


def f1s(scores: dict) -> tuple:
    return scores["COnPOff_f1"], scores["COnP_f1"], scores["COn_f1"]


def test_reference_against_itself_is_perfect():
    scores = note_metrics(REF, REF)
    assert set(scores) == set(NOTE_METRIC_KEYS)
    assert all(v == 1.0 for v in scores.values())


def test_semitone_shift_breaks_pitch_only():
    assert f1s(note_metrics(REF, REF.shift(1))) == (0.0, 0.0, 1.0)
    assert f1s(note_metrics(REF, REF.shift(0.4))) == (1.0, 1.0, 1.0)  # 40 cents: inside the 50-cent tolerance


def test_onsets_shifted_by_60_ms_break_everything():
    late = NoteList(REF.onsets + 0.06, REF.offsets + 0.06, REF.midi)
    assert f1s(note_metrics(REF, late)) == (0.0, 0.0, 0.0)
    early = NoteList(REF.onsets + 0.04, REF.offsets, REF.midi)  # 40 ms: inside the onset tolerance
    assert f1s(note_metrics(REF, early)) == (1.0, 1.0, 1.0)


def test_offset_tolerance_is_20_percent_or_50_ms():
    # tolerance = max(50 ms, 20 % of the reference duration): 80 ms for note 1 (0.4 s), 200 ms for note 4 (1 s)
    est = NoteList(REF.onsets, REF.offsets + np.array([0.07, 0.0, 0.0, 0.19, 0.0]), REF.midi)
    scores = note_metrics(REF, est)
    assert scores["COnP_f1"] == 1.0
    assert scores["COnPOff_recall"] == 1.0
    est = NoteList(REF.onsets, REF.offsets + np.array([0.09, 0.0, 0.0, 0.21, 0.0]), REF.midi)
    assert note_metrics(REF, est)["COnPOff_recall"] == pytest.approx(3 / 5)


def test_agrees_with_direct_mir_eval_calls():
    rng = np.random.default_rng(0)
    est = NoteList(
        REF.onsets + rng.uniform(-0.06, 0.06, len(REF)),
        REF.offsets + rng.uniform(-0.1, 0.1, len(REF)),
        REF.midi + rng.choice([0, 0, 1], len(REF)),
    )
    scores = note_metrics(REF, est)
    direct = mir_eval.transcription.precision_recall_f1_overlap(
        REF.intervals,
        REF.hz,
        est.intervals,
        est.hz,
        onset_tolerance=0.05,
        pitch_tolerance=50.0,
        offset_ratio=0.2,
        offset_min_tolerance=0.05,
    )
    assert (scores["COnPOff_precision"], scores["COnPOff_recall"], scores["COnPOff_f1"]) == pytest.approx(direct[:3])
    direct = mir_eval.transcription.precision_recall_f1_overlap(
        REF.intervals, REF.hz, est.intervals, est.hz, onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None
    )
    assert (scores["COnP_precision"], scores["COnP_recall"], scores["COnP_f1"]) == pytest.approx(direct[:3])
    direct = mir_eval.transcription.onset_precision_recall_f1(REF.intervals, est.intervals, onset_tolerance=0.05)
    assert (scores["COn_precision"], scores["COn_recall"], scores["COn_f1"]) == pytest.approx(direct)
    assert 0 < scores["COnP_f1"] < 1


def test_empty_cases_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(v == 1.0 for v in note_metrics(NoteList.empty(), NoteList.empty()).values())
        assert all(v == 0.0 for v in note_metrics(REF, NoteList.empty()).values())
        assert all(v == 0.0 for v in note_metrics(NoteList.empty(), REF).values())
        assert note_metrics(REF, NoteList.from_rows([[0.1, 0.1001, 60]]))["COn_f1"] > 0  # tiny notes warn in mir_eval


def test_aggregate_is_the_mean_over_songs():
    per_song = [note_metrics(REF, REF), note_metrics(REF, REF.shift(1))]
    agg = aggregate_note_metrics(per_song)
    assert agg["COnP_f1"] == 0.5 and agg["COn_f1"] == 1.0
    assert all(np.isnan(v) for v in aggregate_note_metrics([]).values())


def targets_of(*cols) -> np.ndarray:
    return np.array(cols, dtype=np.uint8).T


def test_frame_metrics_hand_computed():
    targets = targets_of([0, 1, 1, 1, 1, 0, 0, 0, 1, 1], [0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    probs = np.zeros((10, 3))
    probs[:, 0] = [0.1, 0.6, 0.9, 0.4, 0.8, 0.7, 0.0, 0.0, 0.5, 0.9]  # voiced: tp 5 (1,2,4,8,9), fp 1 (5), fn 1 (3)
    probs[:, 1] = [0, 0, 0.8, 0, 0, 0, 0, 0, 0.9, 0]  # onset: tp 1 (8), fp 1 (2, one frame late), fn 1 (1)
    probs[:, 2] = [0, 0, 0, 0, 0, 0, 0, 0.7, 0, 0]  # offset: fp 1 (7, two frames late), fn 1 (5)
    m = frame_metrics(probs, targets)
    assert m["voiced_acc"] == pytest.approx(8 / 10)
    assert m["voiced_f1"] == pytest.approx(2 * 5 / (2 * 5 + 1 + 1))
    assert m["onset_acc"] == pytest.approx(8 / 10)
    assert m["onset_f1"] == pytest.approx(2 * 1 / (2 + 1 + 1))
    assert m["onset_f1_tol1"] == 1.0  # frame 2 is within one frame of the onset at 1
    assert m["offset_acc"] == pytest.approx(8 / 10)
    assert m["offset_f1"] == 0.0 and m["offset_f1_tol1"] == 0.0


def test_accumulator_sums_songs_and_batches():
    rng = np.random.default_rng(3)
    songs = [(rng.random((n, 3)), (rng.random((n, 3)) > 0.7).astype(np.uint8)) for n in (50, 80)]
    acc = FrameMetricAccumulator()
    for probs, targets in songs:
        acc.update(probs, targets)
    both = frame_metrics(np.concatenate([s[0] for s in songs]), np.concatenate([s[1] for s in songs]))
    for key in ("voiced_acc", "voiced_f1", "onset_acc", "onset_f1", "offset_f1"):
        assert acc.compute()[key] == pytest.approx(both[key])
    # a padded batch (torch tensors) with a mask counts only the real frames
    probs = torch.zeros(2, 80, 3)
    targets = torch.zeros(2, 80, 3, dtype=torch.uint8)
    probs[0, :50], targets[0, :50] = torch.from_numpy(songs[0][0]), torch.from_numpy(songs[0][1])
    probs[1], targets[1] = torch.from_numpy(songs[1][0]), torch.from_numpy(songs[1][1])
    targets[0, 50:] = 1  # padding that must be ignored
    mask = torch.ones(2, 80, dtype=torch.bool)
    mask[0, 50:] = False
    batched = frame_metrics(probs, targets, mask=mask)
    assert batched == pytest.approx(acc.compute())


def test_frame_metrics_no_positives():
    m = frame_metrics(np.zeros((5, 3)), np.zeros((5, 3), np.uint8))
    assert m["onset_f1"] == 1.0 and m["onset_f1_tol1"] == 1.0 and m["voiced_acc"] == 1.0
    assert np.isnan(FrameMetricAccumulator().compute()["voiced_acc"])
