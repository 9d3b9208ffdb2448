"""Note files: every format round-trips, the CSV header is sniffed, bad input names file and line."""

from __future__ import annotations

import json

import numpy as np
import pretty_midi
import pytest
from conftest import VOCANO_FIXTURE

from gru_attn.errors import InputError
from gru_attn.notes import NOTE_EXTENSIONS, NoteList, hz_to_midi, read_notes, write_notes

NOTES = NoteList.from_rows([[0.3, 0.72, 63.0], [0.72, 1.5, 58.25], [2.0, 2.345678, 70.5]])


def assert_notes_equal(a: NoteList, b: NoteList, time_atol=1e-9, midi_atol=1e-9):
    assert len(a) == len(b)
    np.testing.assert_allclose(a.onsets, b.onsets, atol=time_atol)
    np.testing.assert_allclose(a.offsets, b.offsets, atol=time_atol)
    np.testing.assert_allclose(a.midi, b.midi, atol=midi_atol)


def write_text(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("ext", [".csv", ".json", ".txt", ".notes"])
def test_text_formats_round_trip(tmp_path, ext):
    path = tmp_path / f"song{ext}"
    write_notes(NOTES, path)
    assert_notes_equal(read_notes(path), NOTES, time_atol=1e-6, midi_atol=1e-4)


@pytest.mark.parametrize("columns", [("onset", "offset", "hz"), ("onset", "offset", "midi", "hz")])
def test_csv_columns_round_trip(tmp_path, columns):
    path = tmp_path / "out.csv"
    write_notes(NOTES, path, columns=columns)
    assert path.read_text().splitlines()[0] == ",".join(columns)
    assert_notes_equal(read_notes(path), NOTES, time_atol=1e-6, midi_atol=1e-4)


def test_csv_bad_columns(tmp_path):
    with pytest.raises(InputError, match="columns"):
        write_notes(NOTES, tmp_path / "out.csv", columns=("midi", "onset", "offset"))


def test_csv_text_is_plain(tmp_path):
    path = tmp_path / "a.csv"
    write_notes(NoteList.from_rows([[0.3, 0.72, 63.0]]), path)
    assert path.read_text() == "onset,offset,midi\n0.3,0.72,63\n"


def test_midi_round_trip_rounds_pitch(tmp_path):
    path = tmp_path / "song.mid"
    notes = NoteList.from_rows([[0.3, 0.72, 63.0], [0.72, 1.5, 58.4], [2.0, 2.345678, 70.6], [2.345678, 3.1, 70.6]])
    write_notes(notes, path)
    back = read_notes(path)
    # times within 1 ms, pitch rounded to the nearest integer; adjacent same-pitch notes stay separate
    assert_notes_equal(back, NoteList(notes.onsets, notes.offsets, np.rint(notes.midi)), time_atol=1e-3)


def test_midi_reader_merges_instruments_and_skips_drums(tmp_path):
    pm = pretty_midi.PrettyMIDI()
    a, b, drums = pretty_midi.Instrument(0), pretty_midi.Instrument(40), pretty_midi.Instrument(0, is_drum=True)
    a.notes.append(pretty_midi.Note(100, 60, 1.0, 1.5))
    b.notes.append(pretty_midi.Note(100, 62, 0.0, 0.5))
    drums.notes.append(pretty_midi.Note(100, 36, 0.2, 0.3))
    pm.instruments += [a, b, drums]
    pm.write(str(tmp_path / "x.midi"))
    assert_notes_equal(
        read_notes(tmp_path / "x.midi"), NoteList.from_rows([[0.0, 0.5, 62], [1.0, 1.5, 60]]), time_atol=1e-3
    )


def test_midi_pitch_out_of_range(tmp_path):
    with pytest.raises(InputError, match="0..127"):
        write_notes(NoteList.from_rows([[0.0, 1.0, 130.0]]), tmp_path / "x.mid")


@pytest.mark.parametrize("ext", [".csv", ".json", ".txt", ".mid"])
def test_empty_note_list_round_trips(tmp_path, ext):
    path = tmp_path / f"silent{ext}"
    write_notes(NoteList.empty(), path)
    assert len(read_notes(path)) == 0


def test_seed_guide_csv_in_hz(tmp_path):
    path = write_text(tmp_path / "g.csv", "start_time,end_time,frequency\n0.5,1.0,440.0\n1.0,1.25,261.6255653\n")
    notes = read_notes(path)
    np.testing.assert_allclose(notes.midi, [69.0, 60.0], atol=1e-6)
    np.testing.assert_allclose(notes.offsets, [1.0, 1.25])


def test_csv_header_sniffing_is_case_and_space_tolerant(tmp_path):
    path = write_text(tmp_path / "h.csv", "\ufeffOnset, Offset, Hz\n0,1, 220\n")
    np.testing.assert_allclose(read_notes(path).midi, [hz_to_midi(220.0)])


def test_probe_fixture_notes():
    notes = read_notes(VOCANO_FIXTURE / "probe_notes.csv")
    assert len(notes) == 12
    assert notes.midi.min() == 58 and notes.midi.max() == 71
    assert np.all(np.diff(notes.onsets) > 0)


def test_unsorted_input_is_sorted(tmp_path):
    path = write_text(tmp_path / "u.txt", "2.0 2.5 60\n# comment\n\n0.0 1.0 62\n")
    assert_notes_equal(read_notes(path), NoteList.from_rows([[0.0, 1.0, 62], [2.0, 2.5, 60]]))


def test_touching_and_tiny_overlap_accepted(tmp_path):
    path = write_text(tmp_path / "t.csv", "onset,offset,midi\n0,1,60\n0.9999995,2,60\n")
    assert len(read_notes(path)) == 2


def test_json_songs(tmp_path):
    path = write_text(tmp_path / "all.json", json.dumps({"1": [[0.1, 0.5, 60], [0.5, 0.9, 62]], "2": []}))
    with pytest.raises(InputError, match="2 songs"):
        read_notes(path)
    assert len(read_notes(path, song="1")) == 2
    assert len(read_notes(path, song=2)) == 0
    with pytest.raises(InputError, match="no song '3'"):
        read_notes(path, song="3")


def test_json_writer_uses_stem_as_song_id(tmp_path):
    write_notes(NOTES, tmp_path / "42.json")
    assert list(json.loads((tmp_path / "42.json").read_text())) == ["42"]


def test_write_is_atomic_and_overwrites(tmp_path):
    path = tmp_path / "sub" / "a.csv"
    write_notes(NOTES, path)
    write_notes(NoteList.empty(), path)
    assert path.read_text() == "onset,offset,midi\n"
    assert [p.name for p in path.parent.iterdir()] == ["a.csv"]


def test_notelist_helpers():
    shifted = NOTES.shift(-2)
    np.testing.assert_allclose(shifted.midi, NOTES.midi - 2)
    np.testing.assert_allclose(shifted.onsets, NOTES.onsets)
    rows = np.array([[1.0, 2.0, 60.0], [0.0, 1.0, 61.0]])
    notes = NoteList.from_rows(rows)
    np.testing.assert_allclose(notes.to_rows(), rows[::-1])
    assert len(NoteList.from_rows([])) == 0
    assert ".mid" in NOTE_EXTENSIONS and ".csv" in NOTE_EXTENSIONS


BAD_FILES = [
    ("a.csv", "", "empty CSV"),
    ("a.csv", "0,1,60\n", r"line 1: unknown CSV header"),
    ("a.csv", "onset,offset,velocity\n0,1,60\n", "unknown CSV header"),
    ("a.csv", "onset,offset,midi\n0,1,60\n2,3\n", r"line 3: expected 3 comma-separated fields"),
    ("a.csv", "onset,offset,midi\n0,1,sixty\n", r"line 2: expected numbers"),
    ("a.csv", "onset,offset,midi\n0,1,60\n\n1,nan,60\n", r"line 4: values must be finite"),
    ("a.csv", "onset,offset,midi\n0,inf,60\n", r"line 2: values must be finite"),
    ("a.csv", "onset,offset,midi\n-0.5,1,60\n", r"line 2: onset must be >= 0"),
    ("a.csv", "onset,offset,midi\n1,1,60\n", r"line 2: offset must be greater than onset"),
    ("a.csv", "onset,offset,hz\n0,1,0\n", r"line 2: frequency must be > 0 Hz"),
    ("a.csv", "start_time,end_time,frequency\n0,1,-5\n", r"line 2: frequency must be > 0 Hz"),
    ("a.csv", "onset,offset,midi\n0,1,60\n0.5,2,62\n", r"line 3: note starting at 0.5 s overlaps the note of line 2"),
    ("a.txt", "# header\n0 1 60\n1 2 61 0.8\n", r"line 3: expected 3 whitespace-separated fields"),
    ("a.txt", "0 1 60\n1 2 x\n", r"line 2: expected numbers"),
    ("a.txt", "3 4 60\n0 3.5 60\n", r"line 1: note starting at 3.0 s overlaps the note of line 2"),
    ("a.json", "{not json", "invalid JSON at line 1"),
    ("a.json", "[[0, 1, 60]]", "expected a MIR-ST500 JSON object"),
    ("a.json", "{}", "expected a MIR-ST500 JSON object"),
    ("a.json", '{"s": [[0, 1]]}', "song 's' note 1: expected \\[onset, offset, midi\\]"),
    ("a.json", '{"s": [[0, 1, 60], [2, 1, 60]]}', "song 's' note 2: offset must be greater"),
    ("a.json", '{"s": 5}', "expected a list"),
    ("a.mid", "not a midi file", "cannot read MIDI file"),
    ("a.wav", "", "unknown note file extension '.wav'"),
]


@pytest.mark.parametrize("name,text,message", BAD_FILES)
def test_bad_files_raise_input_error_naming_file_and_line(tmp_path, name, text, message):
    path = write_text(tmp_path / name, text)
    with pytest.raises(InputError, match=message) as err:
        read_notes(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_notes(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="unknown note format"):
        read_notes(tmp_path / "x.csv", fmt="xml")


def test_fmt_overrides_extension(tmp_path):
    path = tmp_path / "labels.dat"
    write_notes(NOTES, path, fmt="txt")
    assert_notes_equal(read_notes(path, fmt="txt"), NOTES, time_atol=1e-6, midi_atol=1e-4)


def test_midi_overlap_is_reported(tmp_path):
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes += [pretty_midi.Note(100, 60, 0.0, 1.0), pretty_midi.Note(100, 64, 0.5, 1.5)]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "poly.mid"))
    with pytest.raises(InputError, match=r"note 2 \(onset 0.500 s\): .*overlaps"):
        read_notes(tmp_path / "poly.mid")


@pytest.mark.parametrize("bpm", [120.0, 97.0, 33.3, 4.0, 400.0])
def test_midi_tempo_is_written_and_times_stay_in_seconds(tmp_path, bpm):
    rng = np.random.default_rng(1)
    onsets = np.sort(rng.uniform(0, 600, 200))  # ten minutes: drift would show
    notes = NoteList(onsets, onsets + 0.05, rng.integers(40, 80, 200))
    path = tmp_path / "song.mid"
    write_notes(notes, path, tempo=bpm)
    pm = pretty_midi.PrettyMIDI(str(path))
    _, tempi = pm.get_tempo_changes()
    assert list(tempi) == pytest.approx([bpm], rel=1e-6)  # MIDI keeps whole microseconds a beat
    assert pm.resolution >= 960 and 60.0 / (tempi[0] * pm.resolution) <= 0.00053  # at most 0.52 ms a tick
    back = read_notes(path)
    assert_notes_equal(back, notes, time_atol=3e-4)


@pytest.mark.parametrize("bpm", [0, -10, 3.0, 401, float("nan"), "fast"])
def test_midi_bad_tempo(tmp_path, bpm):
    with pytest.raises(InputError, match="tempo"):
        write_notes(NOTES, tmp_path / "song.mid", tempo=bpm)
    assert not list(tmp_path.iterdir())


def test_csv_confidence_column(tmp_path):
    path = tmp_path / "song.csv"
    write_notes(NOTES, path, columns=("onset", "offset", "midi", "hz", "confidence"), confidence=[0.9, 0.25, 1.0])
    header, *rows = path.read_text().splitlines()
    assert header == "onset,offset,midi,hz,confidence"
    assert [r.split(",")[-1] for r in rows] == ["0.9", "0.25", "1"]
    assert_notes_equal(read_notes(path), NOTES, time_atol=1e-6, midi_atol=1e-4)  # read_notes skips the column
    write_text(path, "onset,offset,midi,confidence\n0.5,1.0,60,0.7\n")
    assert_notes_equal(read_notes(path), NoteList.from_rows([[0.5, 1.0, 60]]))


@pytest.mark.parametrize(
    "confidence, message", [(None, "got 0 for 3"), ([0.5, 0.5], "got 2 for 3"), ([0.5, 1.5, 0.2], "0..1")]
)
def test_csv_bad_confidence(tmp_path, confidence, message):
    with pytest.raises(InputError, match=message):
        write_notes(NOTES, tmp_path / "a.csv", columns=("onset", "offset", "midi", "confidence"), confidence=confidence)
    with pytest.raises(InputError, match="columns"):
        write_notes(NOTES, tmp_path / "a.csv", columns=("onset", "offset", "confidence"), confidence=[1, 1, 1])
    with pytest.raises(InputError, match="line 2"):
        read_notes(write_text(tmp_path / "b.csv", "onset,offset,midi,confidence\n0.5,1.0,60,high\n"))
