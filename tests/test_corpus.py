"""Tests for gru_attn.corpus: discovery, validation, normalisation, labels, splits."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gru_attn.corpus import (
    load_corpus,
    load_songs,
    load_synthetic_corpus,
    split_songs,
)
from gru_attn.decode import notes_from_targets
from gru_attn.errors import InputError
from gru_attn.frames import frame_to_time
from gru_attn.labels import notes_to_targets, pitch_to_notes, targets_to_sdt6
from gru_attn.notes import hz_to_midi
from gru_attn.synth import ensure_corpus

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "vocano_cfp" / "probe_feat.npz"
T = 120  # frames per test song


def make_song(
    root: Path,
    name: str,
    n_frames: int = T,
    n_bins: int = 174,
    seed: int = 0,
    layout: str = "2d",
    pitch_frames: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Write random features and a two-note pitch contour for ``name`` under root/feat, root/pitch."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(3.0, 2.0, size=(9, n_bins, n_frames)).astype(np.float32)
    (root / "feat").mkdir(parents=True, exist_ok=True)
    (root / "pitch").mkdir(parents=True, exist_ok=True)
    stored = feats.reshape(9 * n_bins, n_frames) if layout == "2d" else feats
    np.save(root / "feat" / f"{name}_feat.npy", stored)
    n_pitch = n_frames if pitch_frames is None else pitch_frames
    pitch = np.zeros(n_pitch)
    pitch[10:50] = 220.0
    pitch[60:100] = 330.0
    np.save(root / "pitch" / f"{name}_pitch.npy", pitch)
    return feats, pitch


def write_notes_csv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("onset,offset,midi\n" + "".join(f"{a},{b},{m}\n" for a, b, m in rows))


NOTES = [(0.21, 0.99, 57), (1.21, 1.63, 60), (1.63, 2.01, 64)]


# --------------------------------------------------------------------------- features


def test_layouts_load_identically_and_are_block_zscored(tmp_path):
    feats, _ = make_song(tmp_path / "a", "s", layout="2d")
    make_song(tmp_path / "b", "s", layout="3d")
    (song_2d,) = load_songs(tmp_path / "a" / "feat", tmp_path / "a" / "pitch")
    (song_3d,) = load_songs(tmp_path / "b" / "feat", tmp_path / "b" / "pitch")
    assert song_2d.feats.shape == (9, 174, T) and song_2d.feats.dtype == np.float32
    np.testing.assert_array_equal(song_2d.feats, song_3d.feats)
    # rows 174*b .. 174*b+173 are block b, each z-scored over the whole block
    for b in range(9):
        block = feats[b].astype(np.float64)
        np.testing.assert_allclose(song_2d.feats[b], (block - block.mean()) / block.std(), atol=1e-5)
    np.testing.assert_allclose(song_2d.feats.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(song_2d.feats.std(axis=(1, 2)), 1.0, atol=1e-5)


def test_n_bins_derived_from_rows(tmp_path):
    make_song(tmp_path, "s", n_bins=100)
    (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch")
    assert song.feats.shape == (9, 100, T)


def test_vocano_features_pass_through_unchanged(tmp_path):
    ref = np.load(FIXTURE)["feat"]
    (tmp_path / "feat").mkdir()
    (tmp_path / "pitch").mkdir()
    np.save(tmp_path / "feat" / "probe_feat.npy", ref)
    np.save(tmp_path / "pitch" / "probe_pitch.npy", np.zeros(ref.shape[1]))
    (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch")
    np.testing.assert_allclose(song.feats.reshape(ref.shape), ref, atol=1e-5)


def test_float64_features_are_stored_as_float32(tmp_path):
    make_song(tmp_path, "s")
    path = tmp_path / "feat" / "s_feat.npy"
    np.save(path, np.load(path).astype(np.float64))
    (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch")
    assert song.feats.dtype == np.float32 and song.feats.flags.c_contiguous


def test_vocano_two_column_pitch_is_accepted(tmp_path):
    _, pitch = make_song(tmp_path, "s")
    np.save(tmp_path / "pitch" / "s_pitch.npy", np.stack([np.arange(T) * 0.02, pitch], axis=1))
    (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch")
    np.testing.assert_array_equal(song.pitch, pitch)
    assert song.pitch.dtype == np.float64


# --------------------------------------------------------------------------- bad input


def _error(tmp_path, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_songs(tmp_path / "feat", tmp_path / "pitch", **kwargs)
    return str(info.value)


def test_wrong_row_count_names_file_and_expected_shapes(tmp_path):
    make_song(tmp_path, "s")
    np.save(tmp_path / "feat" / "s_feat.npy", np.ones((1565, T), dtype=np.float32))
    message = _error(tmp_path)
    assert "s_feat.npy" in message and "1565" in message and "(9, n_bins, T)" in message


def test_wrong_channel_count_3d(tmp_path):
    make_song(tmp_path, "s")
    np.save(tmp_path / "feat" / "s_feat.npy", np.ones((8, 174, T), dtype=np.float32))
    assert "s_feat.npy" in _error(tmp_path)


def test_missing_pitch_file(tmp_path):
    make_song(tmp_path, "s")
    (tmp_path / "pitch" / "s_pitch.npy").unlink()
    message = _error(tmp_path)
    assert "s_pitch.npy" in message and "not found" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features(tmp_path, bad):
    feats, _ = make_song(tmp_path, "s")
    feats[3, 5, 7] = bad
    np.save(tmp_path / "feat" / "s_feat.npy", feats)
    message = _error(tmp_path)
    assert "s_feat.npy" in message and "NaN" in message


def test_non_finite_pitch(tmp_path):
    _, pitch = make_song(tmp_path, "s")
    pitch[4] = np.nan
    np.save(tmp_path / "pitch" / "s_pitch.npy", pitch)
    assert "s_pitch.npy" in _error(tmp_path)


def test_negative_pitch(tmp_path):
    _, pitch = make_song(tmp_path, "s")
    pitch[4] = -1.0
    np.save(tmp_path / "pitch" / "s_pitch.npy", pitch)
    message = _error(tmp_path)
    assert "s_pitch.npy" in message and "negative" in message


def test_constant_block(tmp_path):
    feats, _ = make_song(tmp_path, "s")
    feats[4] = 1.5
    np.save(tmp_path / "feat" / "s_feat.npy", feats)
    message = _error(tmp_path)
    assert "constant block 4" in message and "s_feat.npy" in message


def test_pickled_array_is_rejected(tmp_path):
    make_song(tmp_path, "s")
    np.save(tmp_path / "feat" / "s_feat.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "s_feat.npy" in _error(tmp_path)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "feat").mkdir()
    (tmp_path / "feat" / "readme.txt").write_text("not a feature file")
    message = _error(tmp_path)
    assert "no *_feat.npy files in" in message and str(tmp_path / "feat") in message
    with pytest.raises(InputError, match="not found"):
        load_songs(tmp_path / "nowhere", tmp_path / "pitch")


def test_length_mismatch_over_two_frames_names_both_files(tmp_path):
    make_song(tmp_path, "s", pitch_frames=T - 3)
    message = _error(tmp_path)
    assert "s_feat.npy" in message and "s_pitch.npy" in message
    assert str(T) in message and str(T - 3) in message


@pytest.mark.parametrize("pitch_frames", [T - 2, T + 1])
def test_length_mismatch_up_to_two_frames_is_trimmed_and_logged(tmp_path, caplog, pitch_frames):
    make_song(tmp_path, "s", pitch_frames=pitch_frames)
    with caplog.at_level(logging.WARNING, logger="gru_attn.corpus"):
        (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch")
    n = min(T, pitch_frames)
    assert song.feats.shape[-1] == len(song.pitch) == len(song.targets) == n
    assert song.feats.flags.c_contiguous
    records = [r.getMessage() for r in caplog.records if r.name == "gru_attn.corpus"]
    assert any("s_feat.npy" in m and "s_pitch.npy" in m and str(pitch_frames) in m and str(T) in m for m in records), (
        records
    )


def test_mixed_bin_counts_are_rejected(tmp_path):
    make_song(tmp_path, "a", n_bins=174)
    make_song(tmp_path, "b", n_bins=100)
    message = _error(tmp_path)
    assert "b_feat.npy" in message and "100" in message


def test_unknown_requested_name(tmp_path):
    make_song(tmp_path, "s")
    assert "zz_feat.npy" in _error(tmp_path, names=["zz"])


# --------------------------------------------------------------------------- labels


def test_notes_folder_labels(tmp_path):
    make_song(tmp_path, "s")
    write_notes_csv(tmp_path / "notes" / "s.csv", NOTES)
    (song,) = load_songs(
        tmp_path / "feat", tmp_path / "pitch", notes_dir=tmp_path / "notes", sdt_dir=tmp_path / "unused"
    )
    assert song.label_source == "notes"
    onsets, offsets, midi = (np.array(c, dtype=float) for c in zip(*NOTES))
    np.testing.assert_allclose(song.notes.onsets, onsets)
    np.testing.assert_allclose(song.notes.midi, midi)
    np.testing.assert_array_equal(song.targets, notes_to_targets(onsets, offsets, T))
    assert song.targets.dtype == np.uint8 and song.targets.shape == (T, 3)
    assert song.targets[:, 1].sum() == 3


def test_notes_folder_missing_or_ambiguous_file(tmp_path):
    make_song(tmp_path, "s")
    (tmp_path / "notes").mkdir()
    message = _error(tmp_path, notes_dir=tmp_path / "notes")
    assert "'s'" in message and str(tmp_path / "notes") in message
    write_notes_csv(tmp_path / "notes" / "s.csv", NOTES)
    (tmp_path / "notes" / "s.txt").write_text("0.2 1.0 57\n")
    message = _error(tmp_path, notes_dir=tmp_path / "notes")
    assert "s.csv" in message and "s.txt" in message


def test_sdt_labels_are_converted(tmp_path):
    _, pitch = make_song(tmp_path, "s")
    # notes on frame centres: [frame 10, frame 30), [30, 50), [60, 100)
    onsets, offsets = frame_to_time([10, 30, 60]), frame_to_time([30, 50, 100])
    targets = notes_to_targets(onsets, offsets, T)
    (tmp_path / "sdt").mkdir()
    np.save(tmp_path / "sdt" / "s_sdt.npy", targets_to_sdt6(targets))
    (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch", sdt_dir=tmp_path / "sdt")
    assert song.label_source == "sdt"
    np.testing.assert_array_equal(song.targets, targets)
    np.testing.assert_allclose(song.notes.onsets, onsets)
    np.testing.assert_allclose(song.notes.offsets, offsets)
    np.testing.assert_allclose(song.notes.midi, hz_to_midi([220.0, 220.0, 330.0]))


def test_sdt_column_order_is_silence_voiced_then_onset_then_offset(tmp_path):
    make_song(tmp_path, "s")
    sdt = np.zeros((T, 6))
    sdt[:, [0, 2, 4]] = 1.0  # silence, not onset, not offset
    sdt[20:40] = [0, 1, 1, 0, 1, 0]  # voiced
    sdt[20] = [0, 1, 0, 1, 1, 0]  # onset
    sdt[40] = [1, 0, 1, 0, 0, 1]  # offset
    (tmp_path / "sdt").mkdir()
    np.save(tmp_path / "sdt" / "s_sdt.npy", sdt)
    (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch", sdt_dir=tmp_path / "sdt")
    assert song.targets[:, 0].sum() == 20 and song.targets[20:40, 0].all()
    assert np.flatnonzero(song.targets[:, 1]).tolist() == [20]
    assert np.flatnonzero(song.targets[:, 2]).tolist() == [40]


@pytest.mark.parametrize("sdt", [np.zeros((T, 3)), np.ones((T, 6)), np.full((T, 6), 0.5) * [1, 1, 1, 1, 1, -1]])
def test_bad_sdt_files(tmp_path, sdt):
    make_song(tmp_path, "s")
    (tmp_path / "sdt").mkdir()
    np.save(tmp_path / "sdt" / "s_sdt.npy", sdt)
    message = _error(tmp_path, sdt_dir=tmp_path / "sdt")
    assert "s_sdt.npy" in message and "(T, 6)" in message


def test_sdt_length_mismatch_names_both_files(tmp_path):
    make_song(tmp_path, "s")
    (tmp_path / "sdt").mkdir()
    np.save(tmp_path / "sdt" / "s_sdt.npy", targets_to_sdt6(np.zeros((T + 5, 3))))
    message = _error(tmp_path, sdt_dir=tmp_path / "sdt")
    assert "s_sdt.npy" in message and "s_feat.npy" in message


def test_pitch_only_labels(tmp_path):
    _, pitch = make_song(tmp_path, "s")
    (song,) = load_songs(tmp_path / "feat", tmp_path / "pitch")
    assert song.label_source == "pitch"
    expected = pitch_to_notes(pitch)
    assert len(expected) >= 2
    np.testing.assert_allclose(song.notes.onsets, expected.onsets)
    np.testing.assert_allclose(song.notes.midi, expected.midi)
    np.testing.assert_array_equal(song.targets, notes_to_targets(expected.onsets, expected.offsets, T))
    assert song.targets[:, 0].sum() > 0


def test_notes_from_targets_round_trip_and_unpitched_notes():
    # an isolated note whose offset rounds to its last voiced frame, two legato notes,
    # two notes with a sub-frame gap, and a note over unvoiced pitch
    onsets = frame_to_time([5, 20, 28, 38, 50]) + [0.0, 0.0, 0.0, 0.0, 0.004]
    offsets = frame_to_time([15, 28, 35, 50, 55]) + [-0.012, 0.0, 0.004, -0.003, 0.0]
    targets = notes_to_targets(onsets, offsets, 60)
    pitch = np.where(np.arange(60) < 55, 440.0, 0.0)
    pitch[28:35] = 220.0
    pitch[50:] = 0.0
    notes = notes_from_targets(targets, pitch)
    assert len(notes) == 4
    np.testing.assert_allclose(notes.onsets, onsets[:4], atol=0.0101)
    np.testing.assert_allclose(notes.offsets, offsets[:4], atol=0.0101)
    np.testing.assert_allclose(notes.midi, [69.0, 69.0, 57.0, 69.0])


# --------------------------------------------------------------------------- splits


def test_split_file_is_respected(tmp_path):
    for i, name in enumerate(["a", "b", "c", "d"]):
        make_song(tmp_path, name, seed=i)
    split_file = tmp_path / "splits.json"
    split_file.write_text(json.dumps({"train": ["a", "c"], "val": ["d"], "test": ["b"]}))
    corpus = load_corpus(tmp_path / "feat", tmp_path / "pitch", split_file=split_file, splits=("train", "val", "test"))
    assert {k: [s.name for s in v] for k, v in corpus.items()} == {"train": ["a", "c"], "val": ["d"], "test": ["b"]}


@pytest.mark.parametrize(
    "content, words",
    [
        ({"train": ["a"], "val": ["zz"]}, ["'zz'", "no features"]),
        ({"train": ["a", "b"], "val": ["b"]}, ["'b'", "both"]),
        ({"train": ["a"], "holdout": ["b"]}, ["expected"]),
        ({"train": "a"}, ["list"]),
    ],
)
def test_bad_split_files(tmp_path, content, words):
    split_file = tmp_path / "splits.json"
    split_file.write_text(json.dumps(content))
    with pytest.raises(InputError) as info:
        split_songs(["a", "b", "c"], split_file=split_file)
    assert str(split_file) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_missing_split_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        split_songs(["a", "b"], split_file=tmp_path / "nope.json")


def test_fraction_split_is_deterministic_and_disjoint():
    names = [f"song{i:02d}" for i in range(20)]
    first = split_songs(names, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert first == split_songs(list(reversed(names)), val_fraction=0.2, test_fraction=0.1, seed=3)
    assert (len(first["train"]), len(first["val"]), len(first["test"])) == (14, 4, 2)
    assert sorted(first["train"] + first["val"] + first["test"]) == names
    other = split_songs(names, val_fraction=0.2, test_fraction=0.1, seed=4)
    assert other["val"] != first["val"]


def test_fraction_split_keeps_one_val_and_one_train_song():
    assert [len(v) for v in split_songs(["a", "b"], val_fraction=0.1).values()] == [1, 1, 0]
    assert split_songs(["a"], val_fraction=0.1) == {"train": ["a"], "val": [], "test": []}
    assert split_songs(["a", "b", "c"], val_fraction=0.0)["val"] == []
    with pytest.raises(InputError, match="val_fraction"):
        split_songs(["a", "b"], val_fraction=1.5)


def test_load_corpus_loads_only_requested_splits(tmp_path):
    for i in range(5):
        make_song(tmp_path, f"s{i}", seed=i)
    corpus = load_corpus(tmp_path / "feat", tmp_path / "pitch", val_fraction=0.2, seed=1)
    assert set(corpus) == {"train", "val"}
    assert len(corpus["train"]) == 4 and len(corpus["val"]) == 1
    assert not {s.name for s in corpus["train"]} & {s.name for s in corpus["val"]}
    with pytest.raises(InputError, match="holdout"):
        load_corpus(tmp_path / "feat", tmp_path / "pitch", splits=("holdout",))


def test_load_synthetic_corpus(cache_dir):
    tiny = dict(minutes_train=0.1, minutes_val=0.05, minutes_test=0.05, seed=3, song_seconds=(3, 4))
    corpus = load_synthetic_corpus(cache_dir / "synthetic", **tiny, splits=("train", "val", "test"), progress=False)
    root = ensure_corpus(cache_dir / "synthetic", **tiny, progress=False)
    expected = json.loads((root / "splits.json").read_text())
    assert {k: [s.name for s in v] for k, v in corpus.items()} == expected
    for song in corpus["train"] + corpus["val"] + corpus["test"]:
        assert song.label_source == "notes" and len(song.notes) > 0
        assert song.feats.shape == (9, 174, len(song.pitch)) and song.feats.dtype == np.float32
        np.testing.assert_array_equal(
            song.targets, notes_to_targets(song.notes.onsets, song.notes.offsets, song.n_frames)
        )


@pytest.mark.slow
def test_corpus_module_does_not_load_the_singer():
    """Loading feature corpora (``evaluate``, ``load_corpus``) never imports the synthesiser."""
    code = (
        "import sys, gru_attn.corpus, gru_attn.evaluate; "
        "print(sorted(m for m in sys.modules if m == 'gru_attn.synth' or m.startswith('gru_attn.data.singer')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
