"""The note-HMM decoder (decode=segments) on constructed frame curves."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from gru_attn.cfp import hz_to_bin
from gru_attn.errors import InputError
from gru_attn.frames import HOP_SECONDS, frame_times
from gru_attn.notes import NoteList, hz_to_midi, midi_to_hz
from gru_attn.segments import SegmentDecoder, _viterbi, is_scoop

N_BINS = 174
# fixed settings, so the tests do not follow the tuned defaults of conf/decode/segments.yaml
DECODER = SegmentDecoder(
    voicing_weight=1.0,
    voicing_mix=0.0,
    pitch_weight=1.0,
    pitch_source="contour",
    pitch_sigma=0.5,
    pitch_cap=3.0,
    note_cost=4.0,
    onset_weight=1.0,
    change_cost=0.0,
    repeat_cost=1.0,
    repeat_onset_weight=2.0,
    repeat_dip_weight=8.0,
    dip_frames=2,
    end_cost=0.0,
    offset_weight=0.5,
    min_note_frames=3,
)


def frame(seconds: float) -> int:
    return int(round(seconds / HOP_SECONDS))


def curves(notes, n_frames, *, vibrato=0.0, dips=(), glide_frames=0, onset=0.9, offset=0.6, voiced=0.95, seed=0):
    """Soft network-like curves for ``notes`` (rows onset s, offset s, MIDI): (probs (T, 3), contour Hz (T,)).

    Voiced ``voiced`` inside notes (0.03 outside, plus noise); onset/offset bumps of 3
    frames peaking at ``onset``/``offset`` on the boundaries; ``dips``: frames where the
    voicing drops to 0.45 (a consonant between two notes); ``glide_frames``: pitch moves
    between adjacent notes linearly over that many frames.
    """
    rng = np.random.default_rng(seed)
    t = frame_times(n_frames)
    v = np.full(n_frames, 0.03)
    on, off = np.zeros(n_frames), np.zeros(n_frames)
    midi = np.full(n_frames, np.nan)
    for a, b, m in notes:
        fa, fb = frame(a), frame(b)
        v[fa:fb] = voiced
        midi[fa:fb] = m
        for curve, f, height in ((on, fa, onset), (off, fb, offset)):
            for d, scale in ((-1, 0.4), (0, 1.0), (1, 0.4)):
                if 0 <= f + d < n_frames:
                    curve[f + d] = max(curve[f + d], height * scale)
    for f in dips:
        v[f] = 0.45
    if glide_frames:
        for (_a0, b0, m0), (a1, _b1, m1) in zip(notes[:-1], notes[1:]):
            if abs(b0 - a1) < 1e-9 and m0 != m1:
                f = frame(a1)
                lo = f - glide_frames // 2
                midi[lo : lo + glide_frames] = np.linspace(m0, m1, glide_frames)
    midi = midi + vibrato * np.sin(2 * np.pi * 5.5 * t)
    v = np.clip(v + rng.normal(0, 0.02, n_frames), 0.0, 1.0)
    hz = np.where(np.isnan(midi), 0.0, midi_to_hz(np.nan_to_num(midi, nan=60.0)))
    return np.stack([v, on, off], axis=1), hz


def assert_notes(est: NoteList, rows, frames_tol=2):
    ref = NoteList.from_rows(rows)
    assert len(est) == len(ref), est.to_rows()
    tol = frames_tol * HOP_SECONDS + 1e-9
    assert np.abs(est.onsets - ref.onsets).max() <= tol, est.to_rows()
    assert np.abs(est.offsets - ref.offsets).max() <= tol, est.to_rows()
    np.testing.assert_allclose(est.midi, ref.midi, atol=0.3)


# separated notes, a legato step, a repeated same-pitch pair joined by a consonant dip, a rest
ROWS = [[0.20, 0.60, 60], [0.60, 1.00, 62], [1.30, 1.70, 64], [1.70, 2.10, 64], [2.50, 3.10, 57], [3.30, 3.70, 69]]


def test_recovers_notes_from_soft_curves():
    probs, hz = curves(ROWS, 200, vibrato=0.3, dips=[frame(1.70) - 1, frame(1.70)])
    assert_notes(DECODER(probs, hz), ROWS)


def test_repeated_same_pitch_notes_split_on_onset_plus_voicing_dip():
    rows = [[0.2, 0.6, 65], [0.6, 1.0, 65], [1.0, 1.4, 65]]
    probs, hz = curves(rows, 80, dips=[frame(0.6) - 1, frame(0.6), frame(1.0) - 1, frame(1.0)])
    assert_notes(DECODER(probs, hz), rows)
    # the onset alone is the evidence: without it the dip is too shallow to end a note
    probs[:, 1] = 0.0
    assert len(DECODER(probs, hz)) == 1


def test_spurious_mid_note_event_peaks_do_not_split_a_steady_note():
    rows = [[0.2, 1.4, 57], [1.6, 2.4, 62]]
    probs, hz = curves(rows, 130, vibrato=0.4)
    for f, height in ((frame(0.5), 0.9), (frame(0.8), 0.7), (frame(1.1), 0.85), (frame(2.0), 0.9)):
        probs[f - 1 : f + 2, 1] = [0.4 * height, height, 0.4 * height]
        probs[f - 2 : f + 1, 2] = [0.4 * height, height, 0.4 * height]
    assert_notes(DECODER(probs, hz), rows)


def test_melisma_splits_where_the_pitch_moves_without_an_onset():
    rows = [[0.2, 0.7, 60], [0.7, 1.1, 62], [1.1, 1.6, 59]]
    probs, hz = curves(rows, 90, vibrato=0.2, glide_frames=4)
    probs[frame(0.7) - 2 : frame(0.7) + 2, 1] = 0.0  # no onset evidence at the pitch moves
    probs[frame(1.1) - 2 : frame(1.1) + 2, 1] = 0.0
    probs[frame(0.7) - 2 : frame(0.7) + 2, 2] = 0.0
    probs[frame(1.1) - 2 : frame(1.1) + 2, 2] = 0.0
    assert_notes(DECODER(probs, hz), rows)


def test_pitch_distribution_gives_the_same_notes_as_the_contour():
    probs, hz = curves(ROWS, 200, vibrato=0.3, dips=[frame(1.70) - 1, frame(1.70)])
    centre = np.nan_to_num(hz_to_bin(hz), nan=60.0)
    bins = np.arange(N_BINS)
    dist = np.exp(-0.5 * ((bins[None, :] - centre[:, None]) / 1.5) ** 2)
    dist /= dist.sum(axis=1, keepdims=True)
    decoder = dataclasses.replace(DECODER, pitch_source="distribution")
    assert_notes(decoder(probs, hz, pitch_dist=dist, pitch_voicing=probs[:, 0]), ROWS)
    # an octave error of the distribution on two frames does not split the note
    dist[frame(2.8) : frame(2.8) + 2] = np.roll(dist[frame(2.8) : frame(2.8) + 2], 48, axis=1)
    assert_notes(decoder(probs, hz, pitch_dist=dist, pitch_voicing=probs[:, 0]), ROWS)


def test_fallback_pitch_serves_notes_with_no_voiced_contour_frame():
    rows = [[0.2, 0.8, 67]]
    probs, hz = curves(rows, 50)
    est = DECODER(probs, np.zeros_like(hz), fallback_hz=hz)
    assert_notes(est, rows)


def test_empty_and_silent_input_give_no_notes():
    assert len(DECODER(np.zeros((0, 3)), np.zeros(0))) == 0
    assert len(DECODER(np.zeros((50, 3)), np.zeros(50))) == 0
    probs = np.zeros((50, 3))
    probs[:, 0] = 0.02
    assert len(DECODER(probs, np.full(50, 220.0))) == 0
    with pytest.raises(ValueError):
        DECODER(np.zeros((10, 3)), np.zeros(9))


@pytest.mark.parametrize(
    "name,value",
    [
        ("note_cost", -1.0),
        ("voicing_mix", 1.5),
        ("pitch_source", "yin"),
        ("min_note_frames", 0),
        ("pitch_sigma", 0.0),
        ("dip_frames", 1.5),
        ("repeat_cost", float("nan")),
        ("repeat_level_weight", -1.0),
        ("level_dip_db", 0.0),
        ("level_dip_db", float("inf")),
        ("level_min_db", -1.0),
        ("level_min_db", 20.0),  # not below level_dip_db (14.5)
        ("level_frames", 0),
        ("level_gate", 1.5),
        ("level_gate", True),
        ("tail_weight", -1.0),
        ("tail_min_db", -1.0),
        ("tail_span_db", 0.0),
        ("tail_frames", 0),
        ("head_weight", -1.0),
        ("head_min_db", -1.0),
        ("head_span_db", float("inf")),
        ("head_frames", 0),
        ("glide_frames", 1.5),
        ("glide_frames", -1),
    ],
)
def test_bad_settings_are_refused_with_the_option_named(name, value):
    with pytest.raises(InputError, match=f"decode.{name}"):
        SegmentDecoder(**{name: value})


# --------------------------------------------------------------------------- the level-dip term

LEGATO = [[0.2, 0.8, 65], [0.8, 1.4, 65]]  # a legato repeated note: no rest, no voicing dip


def legato_curves(onset=0.4):
    """Curves of LEGATO with a weak onset peak at the re-attack and a flat level (T,) dB."""
    probs, hz = curves(LEGATO, 90, onset=onset)
    level = np.full(90, -100.0)
    level[frame(0.2) : frame(1.4)] = -20.0
    return probs, hz, level


def with_dip(level, f, depth_db):
    level = level.copy()
    level[f - 1 : f + 2] -= [depth_db / 2, depth_db, depth_db / 2]
    return level


LEVEL = dataclasses.replace(
    DECODER, repeat_level_weight=16.0, level_min_db=0.0, level_dip_db=6.0, level_frames=5, level_gate=1.0
)


def test_a_level_dip_splits_a_legato_repeat_with_a_weak_onset_peak():
    probs, hz, level = legato_curves(onset=0.4)
    dipped = with_dip(level, frame(0.8), 8.0)
    # without the level (or with the term off, or a flat level) the weak peak cannot pay for the split
    assert len(DECODER(probs, hz)) == 1
    assert len(DECODER(probs, hz, level_db=dipped)) == 1  # repeat_level_weight=0: the term is off
    assert len(LEVEL(probs, hz)) == 1
    assert len(LEVEL(probs, hz, level_db=level)) == 1
    assert_notes(LEVEL(probs, hz, level_db=dipped), LEGATO)
    # a shallow dip (2 of the 6 dB of a full dip) is not enough
    assert len(LEVEL(probs, hz, level_db=with_dip(level, frame(0.8), 2.0))) == 1


def test_a_level_dip_without_an_onset_peak_splits_only_when_the_gate_is_open():
    probs, hz, level = legato_curves(onset=0.4)
    probs[:, 1] = 0.0  # no onset evidence anywhere
    dipped = with_dip(level, frame(0.8), 8.0)
    assert len(LEVEL(probs, hz, level_db=dipped)) == 1  # gated: a dip inside a note alone does not split
    ungated = dataclasses.replace(LEVEL, level_gate=0.0)
    assert_notes(ungated(probs, hz, level_db=dipped), LEGATO)
    assert len(ungated(probs, hz, level_db=level)) == 1


def test_a_level_dip_at_a_rest_leaves_the_notes_alone():
    """Where the voicing dips (a rest between repeated notes) the term is scaled down by it: a
    large weight does not pull the notes across the rest."""
    rows = [[0.2, 0.8, 65], [0.9, 1.4, 65]]
    probs, hz = curves(rows, 90, onset=0.4)
    level = np.full(90, -100.0)
    for a, b, _ in rows:
        level[frame(a) : frame(b)] = -20.0
    # min_note_frames=1: restarts inside the rest would show as short notes
    strong = dataclasses.replace(LEVEL, repeat_level_weight=60.0, level_gate=0.0, min_note_frames=1)
    assert_notes(DECODER(probs, hz), rows)
    assert_notes(strong(probs, hz, level_db=level), rows)


def test_level_must_match_the_frames():
    probs, hz, level = legato_curves()
    with pytest.raises(ValueError, match="level_db"):
        LEVEL(probs, hz, level_db=level[:-1])


def test_level_dips_measure_depth_against_the_lower_side():
    from gru_attn.segments import level_dips

    level = np.array([0.0, 0, 0, 0, -10, 0, 0, -4, -4, 0, -3, 0])
    dips = level_dips(level, 3, 6.0)
    assert dips[4] == 1.0  # 10 dB below both sides: clipped to a full dip
    assert dips[7] == pytest.approx(4 / 6) and dips[8] == pytest.approx(4 / 6)
    assert dips[10] == pytest.approx(0.5)
    assert dips[0] == 0.0 and dips[-1] == 0.0  # no frame on one side: no dip
    assert (dips[[1, 2, 3, 5, 6, 9]] == 0.0).all()
    assert level_dips(np.zeros(0), 3, 6.0).shape == (0,)
    shallow = level_dips(level, 3, 6.0, min_db=4.0)  # dips up to 4 dB count nothing, 6 dB fully
    assert shallow[4] == 1.0 and shallow[7] == 0.0 and shallow[10] == 0.0
    assert level_dips(np.array([0.0, -5, 0]), 1, 6.0, min_db=4.0)[1] == pytest.approx(0.5)


def test_peaks_decoder_accepts_and_ignores_the_level():
    from gru_attn.decode import DecodeParams, with_level

    probs, hz, level = legato_curves(onset=0.9)
    peaks = DecodeParams()
    assert peaks(probs, hz, level_db=level).to_rows().tolist() == peaks(probs, hz).to_rows().tolist()
    assert "level_db" in with_level(peaks, {"probs": probs}, level)
    assert "level_db" not in with_level(peaks, {"probs": probs}, None)

    def old_style(probs, pitch_hz, fallback_hz=None, pitch_dist=None, pitch_voicing=None):
        return NoteList.empty()

    assert "level_db" not in with_level(old_style, {"probs": probs}, level)  # a decoder without it still works


# --------------------------------------------------------------------------- the level-tail term


def reverberant_note():
    """A note 0.2-1.0 s whose voicing lingers 0.24 s after its voice stops (a room's tail), while
    the level falls 6 dB per frame from 1.0 s: (probs, contour Hz, level dB)."""
    probs, hz = curves([[0.2, 1.24, 62]], 80, offset=0.0)
    level = np.full(80, -100.0)
    level[frame(0.2) : frame(1.0)] = -20.0
    fall = np.arange(1, frame(1.24) - frame(1.0) + 1)
    level[frame(1.0) : frame(1.24)] = -20.0 - 6.0 * fall
    return probs, hz, level


TAIL = dataclasses.replace(DECODER, tail_weight=3.0, tail_frames=4, tail_min_db=4.0, tail_span_db=6.0)


def test_a_falling_level_ends_a_note_whose_voicing_lingers():
    probs, hz, level = reverberant_note()
    assert_notes(DECODER(probs, hz, level_db=level), [[0.2, 1.24, 62]])  # the term off: the voicing decides
    assert_notes(TAIL(probs, hz, level_db=level), [[0.2, 1.0, 62]])  # the tail is cut where the level falls
    assert_notes(TAIL(probs, hz), [[0.2, 1.24, 62]])  # no level, no term
    assert TAIL.reads_level and not DECODER.reads_level


def test_a_steady_level_with_vibrato_wobble_leaves_the_note_alone():
    probs, hz, level = reverberant_note()
    steady = np.where(level > -100.0, -20.0 + 2.0 * np.sin(np.arange(80) * 2 * np.pi / 9), -100.0)
    assert_notes(TAIL(probs, hz, level_db=steady), [[0.2, 1.24, 62]])


# --------------------------------------------------------------------------- the level-head term


def consonant_then_vowel():
    """A note whose vowel starts at 0.4 s, led by a voiced consonant 0.3-0.4 s that the
    voicing head takes for voice, 18 dB quieter than the vowel: (probs, contour Hz, level dB)."""
    probs, hz = curves([[0.3, 1.0, 62]], 80, offset=0.0)
    level = np.full(80, -100.0)
    level[frame(0.3) : frame(0.4)] = -38.0
    level[frame(0.4) : frame(1.0)] = -20.0
    return probs, hz, level


HEAD = dataclasses.replace(DECODER, head_weight=4.0, head_frames=6, head_min_db=8.0, head_span_db=6.0)


def test_a_quiet_lead_in_before_a_louder_vowel_starts_the_note_at_the_vowel():
    probs, hz, level = consonant_then_vowel()
    assert_notes(DECODER(probs, hz, level_db=level), [[0.3, 1.0, 62]])  # the term off: the voicing decides
    assert_notes(HEAD(probs, hz, level_db=level), [[0.4, 1.0, 62]])  # the note starts with the vowel
    assert_notes(HEAD(probs, hz), [[0.3, 1.0, 62]])  # no level, no term
    assert HEAD.reads_level


def test_frames_of_unknown_level_cost_nothing():
    probs, hz, level = consonant_then_vowel()
    level[level == -38.0] = np.nan  # the lead-in's level unknown: no evidence of a consonant
    assert_notes(HEAD(probs, hz, level_db=level), [[0.3, 1.0, 62]])
    assert_notes(TAIL(probs, hz, level_db=np.full(len(level), np.nan)), [[0.3, 1.0, 62]])


def test_a_gentle_swell_leaves_the_note_start_alone():
    probs, hz, level = consonant_then_vowel()
    swell = np.where(level > -100.0, -26.0 + np.minimum(np.arange(80) - frame(0.3), 10) * 0.6, -100.0)
    assert_notes(HEAD(probs, hz, level_db=swell), [[0.3, 1.0, 62]])  # 6 dB over 10 frames: below head_min_db


# --------------------------------------------------------------------------- onset lag, glides


def scoop(first_frames):
    """A note at 0.5-1.2 s of MIDI 73 whose first frames read ``first_frames`` (MIDI): (probs, contour Hz)."""
    probs, hz = curves([[0.5, 1.2, 73]], 80)
    midi = hz_to_midi(hz)
    f = frame(0.5)
    midi[f : f + len(first_frames)] = first_frames
    return probs, np.where(np.isnan(midi), 0.0, midi_to_hz(np.nan_to_num(midi, nan=60.0)))


NO_REPEAT = dataclasses.replace(DECODER, repeat_dip_weight=0.0)  # no split at the onset bump's peak


def test_a_scooped_attack_joins_the_note_it_reaches():
    probs, hz = scoop([70.7, 71.4, 72.4])
    # off: the scoop decodes as a 2-frame note, dropped, and the note starts 40 ms late
    assert NO_REPEAT(probs, hz).to_rows().round(2).tolist() == [[0.56, 1.22, 73.0]]
    joined = dataclasses.replace(NO_REPEAT, glide_frames=4)(probs, hz)
    assert joined.to_rows().round(2).tolist() == [[0.52, 1.22, 73.0]]  # starts at the scoop, pitch of the note


@pytest.mark.parametrize(
    "contour,expected",
    [
        ([70.7, 71.4, 72.4], True),  # rising into 73
        ([np.nan, 70.7, 71.4], True),  # unvoiced frames do not count
        ([75.5, 74.6, 73.6], True),  # falling into 73
        ([70.7, np.nan, np.nan], False),  # one voiced frame: no direction
        ([70.0, 71.0, 70.8], False),  # steps back by 0.2 semitone
        ([72.7, 72.9, 73.0], False),  # starts within 0.5 semitone: already the note
        ([70.0, 70.2, 70.3], False),  # moves 0.3 semitone: a steady note
    ],
)
def test_is_scoop(contour, expected):
    assert is_scoop(np.array(contour), np.full(10, 73.0)) is expected


def test_a_short_steady_note_before_another_is_no_glide():
    probs, hz = scoop([70.9, 71.0, 71.1])
    rows = dataclasses.replace(NO_REPEAT, glide_frames=4)(probs, hz).to_rows().round(2).tolist()
    assert rows == NO_REPEAT(probs, hz).to_rows().round(2).tolist() == [[0.52, 0.58, 71.0], [0.58, 1.22, 73.0]]


def test_a_glide_after_a_note_is_a_melisma_not_a_scoop():
    notes = [[0.2, 0.5, 65], [0.5, 0.56, 71], [0.56, 1.2, 73]]  # a run: 65, a 3-frame 71, 73
    probs, hz = curves(notes, 80, onset=0.0)
    midi = hz_to_midi(hz)
    midi[frame(0.5) : frame(0.56)] = [70.7, 71.2, 71.8]  # moving on toward 73
    hz = np.where(np.isnan(midi), 0.0, midi_to_hz(np.nan_to_num(midi, nan=60.0)))
    plain = NO_REPEAT(probs, hz)
    assert len(plain) == 3
    assert np.array_equal(dataclasses.replace(NO_REPEAT, glide_frames=4)(probs, hz).to_rows(), plain.to_rows())


def _path_cost(path, new_note, rest_emit, note_emit, start, change, repeat, end):
    """Total cost of a (path, new_note) pair under the model of _viterbi."""
    cost = 0.0
    for t, s in enumerate(path):
        cost += rest_emit[t] if s < 0 else note_emit[t, s]
        prev = path[t - 1] if t else -1
        if s >= 0 and (t == 0 or new_note[t]):
            cost += start[t] if prev < 0 else (change[t] if prev != s else repeat[t])
        elif s < 0 and prev >= 0:
            cost += end[t]
    return cost


def test_viterbi_finds_the_cheapest_path():
    """Against exhaustive search over every path of a short song (2 pitches, 6 frames)."""
    rng = np.random.default_rng(3)
    for _ in range(8):
        n, p = 6, 2
        args = (
            rng.uniform(0, 3, n),
            rng.uniform(0, 3, (n, p)),
            rng.uniform(-1, 3, n),
            rng.uniform(-1, 3, n),
            rng.uniform(-1, 2, n),
            rng.uniform(-1, 2, n),
        )
        path, new_note = _viterbi(*args)
        best = np.inf
        # a state per frame: -1 rest, s, or s restarted (s + p)
        for combo in itertools.product(range(-1, 2 * p), repeat=n):
            states = np.array([c % p if c >= 0 else -1 for c in combo])
            flags = np.array([c >= p for c in combo])
            if any(f and (t == 0 or states[t - 1] != states[t]) for t, f in enumerate(flags)):
                continue  # a restart needs the same pitch on the previous frame
            flags = flags | np.r_[True, states[1:] != states[:-1]] & (states >= 0)
            best = min(best, _path_cost(states, flags, *args))
        assert _path_cost(path, new_note, *args) == pytest.approx(best)


def test_as_dict_round_trips_through_build_decoder():
    from gru_attn.decode import build_decoder

    config = DECODER.as_dict()
    assert config["_target_"] == "gru_attn.segments.SegmentDecoder"
    assert build_decoder(config) == DECODER


def test_long_song_decodes_fast():
    """10 minutes of noisy curves (30 000 frames, 2 octaves) decode in well under the RTF budget."""
    import time

    rng = np.random.default_rng(0)
    n = 30_000
    probs = rng.uniform(0, 1, (n, 3))
    hz = midi_to_hz(rng.integers(48, 72, n).astype(float))
    start = time.perf_counter()
    DECODER(probs, hz)
    assert time.perf_counter() - start < 6.0  # 0.01 RTF; about 1 s on an idle core
    level = rng.uniform(-60, -20, n)
    start = time.perf_counter()
    LEVEL(probs, hz, level_db=level)  # the level-dip term adds O(T) work
    assert time.perf_counter() - start < 6.0
