"""The note decoder on constructed probability curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from gru_attn.decode import DecodeParams, decode_notes, probs_from_logits
from gru_attn.errors import InputError
from gru_attn.frames import HOP_SECONDS, frame_times, time_to_frame
from gru_attn.labels import notes_to_targets
from gru_attn.notes import NoteList, midi_to_hz

HALF_HOP = HOP_SECONDS / 2 + 1e-9

# separated, legato (different pitch), adjacent repeated same pitch, a fractional pitch
NOTES = NoteList.from_rows(
    [
        [0.10, 0.53, 60],
        [0.53, 0.91, 62],
        [1.20, 1.50, 64],
        [1.50, 1.81, 64],
        [2.3, 2.9, 57.3],
        [3.0, 3.4, 71],
    ]
)
N_FRAMES = 180


def contour(notes: NoteList, n_frames: int, vibrato: float = 0.0) -> np.ndarray:
    """(T,) Hz: each note's pitch (plus optional sine vibrato in semitones) where it is voiced, 0 elsewhere."""
    t = frame_times(n_frames)
    hz = np.zeros(n_frames)
    for onset, offset, midi in notes.to_rows():
        sel = (t >= onset) & (t < offset)
        hz[sel] = midi_to_hz(midi + vibrato * np.sin(2 * np.pi * 5.5 * t[sel]))
    return hz


def ideal_probs(notes: NoteList, n_frames: int) -> np.ndarray:
    return notes_to_targets(notes.onsets, notes.offsets, n_frames).astype(np.float64)


def assert_matches(est: NoteList, ref: NoteList, midi_atol=1e-9):
    assert len(est) == len(ref), (est.to_rows(), ref.to_rows())
    assert np.abs(est.onsets - ref.onsets).max() <= HALF_HOP
    assert np.abs(est.offsets - ref.offsets).max() <= HALF_HOP
    np.testing.assert_allclose(est.midi, ref.midi, atol=midi_atol)


def test_ideal_curves_decode_to_the_notes():
    est = decode_notes(ideal_probs(NOTES, N_FRAMES), contour(NOTES, N_FRAMES))
    assert_matches(est, NOTES)
    assert np.all(est.onsets[1:] >= est.offsets[:-1] - 1e-9)


def test_adjacent_repeated_notes_stay_separate():
    notes = NoteList.from_rows([[0.1, 0.4, 65], [0.4, 0.7, 65], [0.7, 1.0, 65]])
    est = decode_notes(ideal_probs(notes, 60), contour(notes, 60))
    assert_matches(est, notes)


def test_blurred_noisy_curves_still_decode():
    rng = np.random.default_rng(0)
    probs = ideal_probs(NOTES, N_FRAMES)
    probs[:, 1:] = gaussian_filter1d(probs[:, 1:], sigma=1.0, axis=0) * 2.2  # peak ~0.88, spread over 5 frames
    probs[:, 0] = gaussian_filter1d(probs[:, 0], sigma=0.7)
    probs = np.clip(probs + rng.normal(0, 0.08, probs.shape), 0, 1)
    est = decode_notes(probs, contour(NOTES, N_FRAMES, vibrato=0.4))
    assert len(est) == len(NOTES)
    assert np.abs(est.onsets - NOTES.onsets).max() <= 0.02 + 1e-9
    assert np.abs(est.offsets - NOTES.offsets).max() <= 0.04 + 1e-9
    np.testing.assert_allclose(est.midi, NOTES.midi, atol=0.3)  # median of a vibrato
    rounded = decode_notes(probs, contour(NOTES, N_FRAMES, vibrato=0.4), DecodeParams(round_pitch=True))
    np.testing.assert_array_equal(rounded.midi, np.rint(NOTES.midi))


def test_missing_offset_peak_ends_at_silence_or_next_onset():
    probs = ideal_probs(NOTES, N_FRAMES)
    probs[:, 2] = 0.0  # no offset peaks at all
    est = decode_notes(probs, contour(NOTES, N_FRAMES))
    # separated notes end where the voiced curve falls; legato ones at the next onset
    assert_matches(est, NOTES)


def test_voiced_drop_before_late_offset_peak_ends_the_note():
    notes = NoteList.from_rows([[0.1, 0.5, 60]])
    probs = ideal_probs(notes, 60)
    probs[:, 2] = 0.0
    probs[39, 2] = 1.0  # offset peak at 0.8 s, 15 frames into the silence
    est = decode_notes(probs, contour(notes, 60))
    assert_matches(est, notes)


def test_short_voiced_dip_does_not_end_the_note():
    notes = NoteList.from_rows([[0.1, 0.8, 60]])
    probs = ideal_probs(notes, 50)
    probs[20:22, 0] = 0.2  # 2-frame dip, shorter than min_silence_frames=3
    assert_matches(decode_notes(probs, contour(notes, 50)), notes)
    probs[20:23, 0] = 0.2  # 3 frames: a silence, the note ends at frame 20 and the rest has no onset
    est = decode_notes(probs, contour(notes, 50))
    assert len(est) == 1 and np.isclose(est.offsets[0], frame_times(50)[20])


def test_note_without_pitch_is_dropped():
    hz = contour(NOTES, N_FRAMES)
    t = frame_times(N_FRAMES)
    hz[(t >= 1.2) & (t < 1.5)] = 0.0  # the third note has no pitch at all
    est = decode_notes(ideal_probs(NOTES, N_FRAMES), hz)
    keep = [0, 1, 3, 4, 5]
    assert_matches(est, NoteList(NOTES.onsets[keep], NOTES.offsets[keep], NOTES.midi[keep]))


def test_onset_in_silence_is_dropped():
    probs = np.zeros((60, 3))
    probs[10, 1] = 1.0  # onset peak, never voiced
    probs[30:50, 0] = 1.0  # voiced but no onset
    assert len(decode_notes(probs, np.full(60, 440.0))) == 0


def test_peak_on_first_and_last_frame():
    probs = np.zeros((20, 3))
    probs[:, 0] = 1.0
    probs[0, 1] = 1.0
    est = decode_notes(probs, np.full(20, 440.0))
    assert len(est) == 1 and np.isclose(est.onsets[0], frame_times(20)[0])
    assert np.isclose(est.offsets[0], frame_times(21)[20])  # runs to the end of the input


def test_short_notes_dropped():
    probs = np.zeros((30, 3))
    probs[10:12, 0], probs[10, 1], probs[12, 2] = 1.0, 1.0, 1.0
    assert len(decode_notes(probs, np.full(30, 440.0))) == 0
    assert len(decode_notes(probs, np.full(30, 440.0), DecodeParams(min_note_frames=2))) == 1


def test_empty_and_silent_input():
    assert len(decode_notes(np.zeros((0, 3)), np.zeros(0))) == 0
    assert len(decode_notes(np.zeros((100, 3)), np.zeros(100))) == 0
    with pytest.raises(ValueError):
        decode_notes(np.zeros((10, 3)), np.zeros(9))


def test_smoothing_merges_split_peaks():
    probs = ideal_probs(NoteList.from_rows([[0.1, 0.6, 60]]), 40)
    probs[4, 1], probs[6, 1] = 0.9, 0.9  # a double-humped onset: frames 4 and 6 (4 is the true one)
    probs[5, 1] = 0.5
    raw = decode_notes(probs, np.full(40, 261.63), DecodeParams(peak_distance_frames=1))
    smooth = decode_notes(
        probs, np.full(40, 261.63), DecodeParams(peak_distance_frames=1, smooth_frames=5, onset_threshold=0.3)
    )
    assert len(raw) == 1 and len(smooth) == 1  # the second hump cuts the first note below min_note_frames
    assert np.isclose(smooth.onsets[0], frame_times(40)[5])


def test_params_validation_and_dict():
    assert DecodeParams(onset_threshold=0.3).as_dict()["onset_threshold"] == 0.3
    with pytest.raises(InputError, match="decode.onset_threshold"):
        DecodeParams(onset_threshold=1.5)
    with pytest.raises(InputError, match="decode.peak_distance_frames"):
        DecodeParams(peak_distance_frames=0)


def test_probs_from_logits_numpy_and_torch():
    logits = np.random.default_rng(1).normal(size=(7, 6)) * 3
    expected = np.exp(logits[:, 1::2]) / (np.exp(logits[:, 0::2]) + np.exp(logits[:, 1::2]))
    np.testing.assert_allclose(probs_from_logits(logits), expected, rtol=1e-12)
    out = probs_from_logits(torch.from_numpy(logits).float())
    assert isinstance(out, torch.Tensor) and out.shape == (7, 3)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    assert probs_from_logits(np.zeros((2, 5, 6))).shape == (2, 5, 3)


def test_ideal_curves_with_synthetic_true_f0_are_perfect():
    """Ideal curves of synthetic songs plus their true f0 (vibrato, scoops, consonant gaps) decode exactly."""
    from gru_attn.metrics import aggregate_note_metrics, note_metrics
    from gru_attn.synth import render_song

    per_song = []
    for i in range(2):
        song = render_song(0, "val", i, song_seconds=(10, 15))
        est = decode_notes(ideal_probs(song.notes, len(song.f0)), song.f0, DecodeParams(round_pitch=True))
        per_song.append(note_metrics(song.notes, est))
    assert all(v == 1.0 for v in aggregate_note_metrics(per_song).values())


def melisma_probs_and_contour(vibrato: float = 0.0):
    """One onset peak over a legato line of three pitches (a melisma): 60 -> 62 -> 59, 0.3 s each."""
    notes = NoteList.from_rows([[0.2, 0.5, 60], [0.5, 0.8, 62], [0.8, 1.1, 59]])
    probs = ideal_probs(notes, 70)
    probs[time_to_frame(notes.onsets[1:]), 1] = 0.0  # the onset curve misses the two pitch moves
    probs[time_to_frame(notes.offsets[:-1]), 2] = 0.0
    return notes, probs, contour(notes, 70, vibrato)


def test_pitch_split_off_by_default_keeps_one_note():
    notes, probs, hz = melisma_probs_and_contour()
    est = decode_notes(probs, hz)
    assert len(est) == 1 and est.onsets[0] == pytest.approx(0.2, abs=HALF_HOP)


@pytest.mark.parametrize("vibrato", [0.0, 0.3])
def test_pitch_split_cuts_a_melisma_at_its_pitch_moves(vibrato):
    notes, probs, hz = melisma_probs_and_contour(vibrato)
    est = decode_notes(probs, hz, DecodeParams(split_semitones=0.75, split_frames=5))
    assert len(est) == 3
    np.testing.assert_allclose(est.onsets, notes.onsets, atol=HALF_HOP + HOP_SECONDS)
    np.testing.assert_allclose(est.midi, notes.midi, atol=0.35)


def test_pitch_split_ignores_small_moves_and_short_excursions():
    notes = NoteList.from_rows([[0.2, 1.0, 60]])
    probs = ideal_probs(notes, 60)
    hz = contour(notes, 60, vibrato=0.4)  # vibrato of +-0.4 semitone
    hz[30:33] = midi_to_hz(63)  # a 3-frame excursion (shorter than split_frames) is no new note
    est = decode_notes(probs, hz, DecodeParams(split_semitones=0.75, split_frames=5))
    assert len(est) == 1
    hz[20:] = midi_to_hz(60.6)  # a settled move of 0.6 semitone (< split_semitones) either
    assert len(decode_notes(probs, hz, DecodeParams(split_semitones=0.75, split_frames=5))) == 1


def test_pitch_split_keeps_min_note_frames_and_uses_the_fallback():
    notes, probs, hz = melisma_probs_and_contour()
    params = DecodeParams(split_semitones=0.75, split_frames=5, min_note_frames=20)
    assert len(decode_notes(probs, hz, params)) == 1  # parts of 15 frames would be too short
    voiced_nowhere = np.zeros_like(hz)
    est = decode_notes(probs, voiced_nowhere, DecodeParams(split_semitones=0.75, split_frames=5), fallback_hz=hz)
    assert len(est) == 3


def test_pitch_split_params_validation():
    with pytest.raises(InputError, match="decode.split_semitones"):
        DecodeParams(split_semitones=-1)
    with pytest.raises(InputError, match="decode.split_frames"):
        DecodeParams(split_frames=0)


def test_offset_peak_at_the_onset_ends_the_previous_note_not_this_one():
    # a short rest, then a note: the offset curve also peaks on the new onset's frame
    notes = NoteList.from_rows([[0.10, 0.50, 60], [0.60, 1.00, 62]])
    probs = ideal_probs(notes, 60)
    second = int(time_to_frame(0.60))
    for lag in (0, 1, 2):  # offset peaks on the onset frame and just after it
        curves = probs.copy()
        curves[second + lag, 2] = 0.9
        est = decode_notes(curves, contour(notes, 60))
        assert_matches(est, notes)
    # an offset peak min_note_frames after the onset does end the note
    curves = probs.copy()
    curves[second + 3, 2] = 0.9
    est = decode_notes(curves, contour(notes, 60))
    assert len(est) == 2 and abs(est.offsets[1] - (0.60 + 3 * HOP_SECONDS)) <= HALF_HOP
