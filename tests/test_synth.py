"""Synthetic corpus: determinism, layout, label truth, splits, ensure_corpus races, CLI."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gru_attn.errors import InputError
from gru_attn.frames import frame_times, num_frames
from gru_attn.notes import midi_to_hz, read_notes
from gru_attn.synth import DEFAULT_REVERB, MIDI_HIGH, MIDI_LOW, corpus_name, ensure_corpus, generate_corpus, render_song

REPO = Path(__file__).resolve().parents[1]
# ~15 s of audio in 4 songs: small enough that the CFP features stay cheap.
TINY = dict(minutes_train=0.1, minutes_val=0.05, minutes_test=0.05, seed=3, song_seconds=(3, 4), progress=False)
FILES = ("wav/{}.wav", "notes/{}.csv", "pitch/{}_pitch.npy", "feat/{}_feat.npy")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generate_corpus(tmp_path_factory.mktemp("synth") / "corpus", **TINY)


@pytest.fixture(scope="module")
def songs() -> list:
    """Eight full-length songs (about 4 min of audio), rendered in memory."""
    return [render_song(11, "train", i) for i in range(8)]


def song_names(corpus: Path) -> list[str]:
    return [s["name"] for s in json.loads((corpus / "corpus.json").read_text())["songs"]]


def test_layout_and_shapes(corpus):
    info = json.loads((corpus / "corpus.json").read_text())
    assert info["version"] >= 1 and info["seed"] == 3 and info["total_seconds"] > 0
    splits = json.loads((corpus / "splits.json").read_text())
    assert set(splits) == {"train", "val", "test"} and all(splits.values())
    names = [n for split in splits.values() for n in split]
    assert len(names) == len(set(names)) == len(info["songs"])  # disjoint, by song
    for name in names:
        pcm, rate = sf.read(corpus / "wav" / f"{name}.wav", dtype="int16")
        info_wav = sf.info(str(corpus / "wav" / f"{name}.wav"))
        assert rate == 16000 and pcm.ndim == 1 and info_wav.subtype == "PCM_16"
        pitch = np.load(corpus / "pitch" / f"{name}_pitch.npy")
        feat = np.load(corpus / "feat" / f"{name}_feat.npy")
        assert pitch.dtype == np.float64 and pitch.shape == (num_frames(len(pcm)),)
        assert feat.dtype == np.float32 and feat.shape == (1566, len(pitch))
        notes = read_notes(corpus / "notes" / f"{name}.csv")
        assert len(notes) > 0 and notes.offsets[-1] < len(pcm) / 16000
        assert (corpus / "notes" / f"{name}.csv").read_text().splitlines()[0] == "onset,offset,midi"
    assert not [p for p in corpus.rglob("*") if p.name.startswith(".")]  # no temporary files left


def test_files_match_render_song(corpus):
    song = render_song(3, "val", 0, song_seconds=(3, 4), reverb=DEFAULT_REVERB)
    pcm, _ = sf.read(corpus / "wav" / f"{song.name}.wav", dtype="int16")
    np.testing.assert_array_equal(pcm, song.pcm)
    np.testing.assert_array_equal(np.load(corpus / "pitch" / f"{song.name}_pitch.npy"), song.f0)


def test_deterministic_bytes(corpus, tmp_path):
    again = generate_corpus(tmp_path / "again", **TINY)
    for name in song_names(corpus):
        for pattern in FILES:
            assert (again / pattern.format(name)).read_bytes() == (corpus / pattern.format(name)).read_bytes()
    for meta in ("corpus.json", "splits.json"):
        assert (again / meta).read_bytes() == (corpus / meta).read_bytes()
    other = generate_corpus(tmp_path / "other", **{**TINY, "seed": 4, "minutes_val": 0, "minutes_test": 0})
    name = song_names(other)[0]
    assert (other / f"wav/{name}.wav").read_bytes() != (corpus / f"wav/{name}.wav").read_bytes()


def test_true_f0_matches_labels(songs):
    # Criterion: over the middle 80 % of every note the true f0 is voiced, its median is
    # within 50 cents of the labelled MIDI pitch, and every frame is within 100 cents
    # (vibrato reaches 80 cents peak, intonation 10, drift 4, scoop/overshoot residue).
    for song in songs:
        t = frame_times(len(song.f0))
        for onset, offset, midi in zip(song.notes.onsets, song.notes.offsets, song.notes.midi):
            trim = 0.1 * (offset - onset)
            f0 = song.f0[(t >= onset + trim) & (t < offset - trim)]
            assert len(f0) and np.all(f0 > 0), (song.name, onset)
            cents = 1200 * np.log2(f0 / midi_to_hz(midi))
            assert abs(np.median(cents)) <= 50 and np.abs(cents).max() <= 100, (song.name, onset)


def test_score_structure(songs):
    repeats = connected_repeats = rests = 0
    for song in songs:
        n = song.notes
        dur, gaps = n.offsets - n.onsets, n.onsets[1:] - n.offsets[:-1]
        assert np.all(np.diff(n.onsets) > 0) and np.all(gaps >= -1e-9)  # sorted, no overlap
        assert dur.min() >= 0.1 - 1e-9 and dur.max() <= 2.0 + 1e-9
        assert np.all(n.midi == np.round(n.midi)) and n.midi.min() >= MIDI_LOW and n.midi.max() <= MIDI_HIGH
        assert n.onsets[0] > 0.2 and n.offsets[-1] < len(song.pcm) / 16000
        assert np.all(song.f0[frame_times(len(song.f0)) < n.onsets[0]] == 0)
        same = n.midi[1:] == n.midi[:-1]
        repeats += same.sum()
        connected_repeats += (same & (gaps < 1e-9)).sum()
        rests += ((gaps >= 0.2) & (gaps <= 1.5)).sum()
        assert gaps.max() <= 1.5 + 1e-9
    assert repeats >= 10 and connected_repeats >= 5 and rests >= 10
    low_voice = min(s.notes.midi.min() for s in songs)
    high_voice = max(s.notes.midi.max() for s in songs)
    assert low_voice <= 52 and high_voice >= 72  # low and high voices both occur


def test_variants_keep_the_voice():
    clean = render_song(2, "test", 1, song_seconds=(8, 8))
    mixed = render_song(2, "test", 1, song_seconds=(8, 8), accompaniment_db=6.0, reverb=0.5)
    np.testing.assert_array_equal(clean.f0, mixed.f0)
    np.testing.assert_array_equal(clean.notes.onsets, mixed.notes.onsets)
    assert clean.pcm.shape == mixed.pcm.shape and not np.array_equal(clean.pcm, mixed.pcm)
    # accompaniment fills the rests: much more energy before the first note
    lead_in = int(clean.notes.onsets[0] * 16000)
    assert np.abs(mixed.pcm[:lead_in].astype(float)).mean() > 10 * np.abs(clean.pcm[:lead_in].astype(float)).mean()


def test_reverb_range_draws_one_room_per_song():
    dry = render_song(2, "test", 1, song_seconds=(8, 8))
    a = render_song(2, "test", 1, song_seconds=(8, 8), reverb=(0.2, 0.6))
    b = render_song(2, "test", 1, song_seconds=(8, 8), reverb=[0.2, 0.6])
    np.testing.assert_array_equal(a.pcm, b.pcm)  # deterministic
    np.testing.assert_array_equal(a.f0, dry.f0)  # the voice and labels stay
    assert not np.array_equal(a.pcm, dry.pcm)
    # a reverberant room fills the rests after the last note with its tail
    tail = slice(int(dry.notes.offsets[-1] * 16000) + 800, None)
    if len(dry.pcm[tail]) > 800:
        assert np.abs(a.pcm[tail].astype(float)).mean() > np.abs(dry.pcm[tail].astype(float)).mean()


def test_bad_parameters(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(InputError, match="not an empty folder"):
        generate_corpus(tmp_path / "full", **TINY)
    for bad in ({"reverb": 2.0}, {"reverb": [0.5, 0.2]}, {"reverb": [0.1, 0.2, 0.3]}, {"minutes_train": 0}, {"seed": -1}, {"song_seconds": (1, 2)},
                {"accompaniment_db": float("nan")}):
        with pytest.raises(InputError):
            generate_corpus(tmp_path / "new", **{**TINY, **bad})


def _ensure(root: str) -> str:
    return str(ensure_corpus(root, **{**TINY, "minutes_val": 0, "minutes_test": 0}))


def test_ensure_corpus_once(tmp_path):
    first = Path(_ensure(str(tmp_path)))
    stamp = (first / "corpus.json").stat().st_mtime_ns
    assert Path(_ensure(str(tmp_path))) == first and (first / "corpus.json").stat().st_mtime_ns == stamp
    assert first.parent == tmp_path and first.name.startswith("synth_")
    params = {k: v for k, v in TINY.items() if k != "progress"}
    assert corpus_name(**params) == corpus_name(**params) != corpus_name(**{**params, "reverb": 0.3})
    assert corpus_name(**{**params, "reverb": (0.0, 0.3)}) == corpus_name(**{**params, "reverb": [0, 0.3]})
    assert corpus_name(**{**params, "reverb": [0.3]}) == corpus_name(**{**params, "reverb": 0.3})


def test_ensure_corpus_concurrent(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_ensure, [str(tmp_path)] * 2)
    assert paths[0] == paths[1]
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert folders == [Path(paths[0])] and (folders[0] / "corpus.json").is_file()


def test_cli(tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "gru_attn.synth", "--minutes", "0.05", "--val-minutes", "0", "--test-minutes", "0",
           "--song-seconds", "3", "4", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote 1 songs") and (out / "corpus.json").is_file()
    proc = subprocess.run(cmd[:-1] + [str(tmp_path / "bad"), "--reverb", "3"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "reverb" in proc.stderr
