"""Synthetic singer and corpus: determinism, layout, vowel-onset labels against the singer's own
phoneme timing, label truth, accompaniment share and ratio, recording chain, splits, ensure_corpus races, CLI."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from gru_attn.data.singer import accompanied, render_song
from gru_attn.errors import InputError
from gru_attn.frames import frame_times, num_frames
from gru_attn.notes import midi_to_hz, read_notes
from gru_attn.synth import (
    DEFAULT_ACCOMPANIMENT_DB,
    DEFAULT_ACCOMPANIMENT_SHARE,
    DEFAULT_REVERB,
    MIDI_HIGH,
    MIDI_LOW,
    _params,
    _plan,
    corpus_name,
    ensure_corpus,
    generate_corpus,
)

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
    info = json.loads((corpus / "corpus.json").read_text())
    for entry in info["songs"]:
        split, index = entry["name"].split("_")
        song = render_song(
            3,
            split,
            int(index),
            song_seconds=(3, 4),
            accompaniment_db=DEFAULT_ACCOMPANIMENT_DB,
            reverb=DEFAULT_REVERB,
            accompaniment_share=DEFAULT_ACCOMPANIMENT_SHARE,
            recording_chain=True,
        )
        pcm, _ = sf.read(corpus / "wav" / f"{song.name}.wav", dtype="int16")
        np.testing.assert_array_equal(pcm, song.pcm)
        np.testing.assert_array_equal(np.load(corpus / "pitch" / f"{song.name}_pitch.npy"), song.f0)
        assert entry["conditions"] == json.loads(json.dumps(song.info))
    # the default corpus is not clean: accompaniment in some songs, a recording chain in all
    conditions = [entry["conditions"] for entry in info["songs"]]
    assert any(c["accompaniment"] for c in conditions) and not all(c["accompaniment"] for c in conditions)
    assert all(c["recording_chain"] and 20 <= c["recording_chain"]["snr_db"] <= 50 for c in conditions)
    assert all(0 <= c["reverb"] <= 0.5 for c in conditions) and info["accompaniment_share"] == 0.65


@pytest.mark.slow
def test_deterministic_bytes(corpus, tmp_path):
    """Same arguments, same bytes: again, and with the songs rendered by 2 worker processes."""
    for again in (generate_corpus(tmp_path / "again", **TINY), generate_corpus(tmp_path / "two", **TINY, workers=2)):
        assert song_names(again) == song_names(corpus)
        for name in song_names(corpus):
            for pattern in FILES:
                assert (again / pattern.format(name)).read_bytes() == (corpus / pattern.format(name)).read_bytes()
        for meta in ("corpus.json", "splits.json"):
            assert (again / meta).read_bytes() == (corpus / meta).read_bytes()
    assert corpus_name(**TINY) == corpus_name(**TINY, workers=2)
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
        # an unvoiced consonant before a legato note takes at most 20 % of the note before it
        assert dur.min() >= 0.08 - 1e-9 and dur.max() <= 2.0 + 1e-9
        assert np.all(n.midi == np.round(n.midi)) and n.midi.min() >= MIDI_LOW and n.midi.max() <= MIDI_HIGH
        assert n.onsets[0] > 0.2 and n.offsets[-1] < len(song.pcm) / 16000
        assert np.all(song.f0[frame_times(len(song.f0)) < song.phonemes.consonant_start[0]] == 0)
        same = n.midi[1:] == n.midi[:-1]
        repeats += same.sum()
        connected_repeats += (same & song.phonemes.connected[1:]).sum()
        rests += ((gaps >= 0.2) & (gaps <= 1.5)).sum()
        assert gaps.max() <= 1.5 + 1e-9
    assert repeats >= 10 and connected_repeats >= 5 and rests >= 10
    low_voice = min(s.notes.midi.min() for s in songs)
    high_voice = max(s.notes.midi.max() for s in songs)
    assert low_voice <= 52 and high_voice >= 72  # low and high voices both occur


def _cents_at(song, times: np.ndarray, midi: np.ndarray) -> np.ndarray:
    """True f0 of ``song`` in cents re. ``midi`` at ``times`` (s), linearly interpolated between frame centres."""
    voiced = song.f0 > 0
    cents = 1200 * np.log2(song.f0[voiced] / 440.0) + 6900
    return np.interp(times, frame_times(len(song.f0))[voiced], cents) - 100 * midi


def test_labels_at_the_vowel_onset(songs):
    """Every onset is its vowel's start and lies in no consonant; offsets end the voicing; checked against
    the singer's own phoneme timing and against the rendered true f0 (voiced / unvoiced frames)."""
    counts = dict(unvoiced_legato=0, voiced_legato=0, melisma=0, lead=0)
    crossings = []
    for song in songs:
        n, p = song.notes, song.phonemes
        t = frame_times(len(song.f0))
        step = 1 / 400  # one control step
        np.testing.assert_allclose(n.onsets, p.vowel_start, atol=step)
        np.testing.assert_allclose(n.offsets, p.voicing_end, atol=step)
        assert np.all(p.consonant_start <= p.vowel_start)
        for c0, v0 in zip(p.consonant_start, p.vowel_start):  # no onset strictly inside any consonant
            assert not np.any((n.onsets > c0 + step) & (n.onsets < v0 - step))
        kinds = np.array(p.kind)
        has_consonant = p.consonant_start < p.vowel_start - 1e-9
        np.testing.assert_array_equal(has_consonant, kinds != "none")
        np.testing.assert_array_equal(p.melisma, p.connected & (kinds == "none"))
        unvoiced = np.isin(kinds, ("fricative", "plosive", "aspirate"))
        for i in range(len(n)):
            on, off, c0 = n.onsets[i], n.offsets[i], p.consonant_start[i]
            # the vowel is voiced from its onset; the note is voiced up to its offset
            # (attacks and releases ramp the voicing over up to 50 / 80 ms; a frame counts from 10 %)
            assert np.all(song.f0[(t >= on + 0.015) & (t <= min(on + 0.05, off - 0.02))] > 0), (song.name, on)
            assert np.all(song.f0[(t >= max(off - 0.04, on)) & (t <= off - 0.02)] > 0), (song.name, off)
            if i + 1 == len(n) or not p.connected[i + 1] or unvoiced[i + 1]:  # voicing ends at the offset
                stop = p.consonant_start[i + 1] if i + 1 < len(n) else np.inf
                assert np.all(song.f0[(t >= off + 0.01) & (t <= min(off + 0.05, stop))] == 0), (song.name, off)
            if i and p.connected[i]:
                if unvoiced[i]:  # legato through an unvoiced consonant: silent between the two labels
                    counts["unvoiced_legato"] += 1
                    assert n.offsets[i - 1] == pytest.approx(c0, abs=step)
                    assert np.all(song.f0[(t > c0 + 0.005) & (t < on - 0.005)] == 0), (song.name, on)
                elif has_consonant[i]:  # through a voiced consonant: the boundary is where the vowel starts
                    counts["voiced_legato"] += 1
                    assert n.offsets[i - 1] == pytest.approx(on, abs=step) and c0 < on - 0.01
                    assert np.all(song.f0[(t >= c0) & (t <= on)] > 0), (song.name, on)
                else:  # melisma: the boundary is where the pitch moves to the new note
                    counts["melisma"] += 1
                    assert n.offsets[i - 1] == pytest.approx(on, abs=step)
                    prev, new = n.midi[i - 1], n.midi[i]
                    assert prev != new
                    window = np.arange(on - 0.1 * (on - n.onsets[i - 1]), on + 0.1 * (n.offsets[i] - on), 0.001)
                    half = _cents_at(song, window, (prev + new) / 2) * np.sign(new - prev)
                    crossed = window[np.flatnonzero(np.diff(np.sign(half)) > 0)]
                    crossings.append(np.abs(crossed - on).min() if len(crossed) else np.inf)
            elif has_consonant[i]:
                counts["lead"] += 1
                prev_off = n.offsets[i - 1] if i else 0.0
                assert np.all(song.f0[(t >= prev_off + 0.01) & (t <= c0 - 0.005)] == 0), (song.name, on)
                if unvoiced[i]:  # an unvoiced lead is unvoiced up to the vowel; a voiced one voiced
                    assert np.all(song.f0[(t > c0) & (t < on - 0.005)] == 0), (song.name, on)
                elif on - c0 > 0.03:
                    assert np.all(song.f0[(t >= c0 + 0.02) & (t <= on)] > 0), (song.name, on)
    assert min(counts.values()) >= 10, counts  # every case is present in the tested songs
    # the pitch crosses the midpoint between the two notes close to the melisma boundary
    crossings = np.array(crossings)
    assert crossings.max() <= 0.02 and np.median(crossings) <= 0.005, np.sort(crossings)[-10:]


def test_accompaniment_share_and_ratio():
    share, drawn = 0.65, []
    split_flags = [accompanied(5, "test", i, share) for i in range(40)]
    for k in range(1, 41):  # any prefix of a split holds its share, give or take one song
        assert abs(sum(split_flags[:k]) - k * share) <= 1
    for i in range(12):
        song = render_song(
            5, "test", i, song_seconds=(4, 5), accompaniment_db=(0.0, 15.0), accompaniment_share=share, keep_stems=True
        )
        voice, band = song.stems["voice"], song.stems["accompaniment"]
        assert len(voice) == len(band) == len(song.pcm)
        if not split_flags[i]:
            assert song.info["accompaniment"] is None and not band.any()
            continue
        db = song.info["accompaniment"]["db"]
        measured = 20 * np.log10(np.sqrt(np.mean(voice**2)) / np.sqrt(np.mean(band**2)))
        assert measured == pytest.approx(db, abs=0.01) and 0 <= db <= 15
        drawn.append(db)
        # the accompaniment is in the song's rests too: energy before the first consonant
        lead_in = int(song.phonemes.consonant_start[0] * 16000)
        assert np.sqrt(np.mean(band[:lead_in] ** 2)) > 0.05 * np.sqrt(np.mean(voice**2))
    assert len(drawn) == sum(split_flags[:12]) >= 7 and max(drawn) - min(drawn) > 5
    fixed = render_song(5, "test", 0, song_seconds=(4, 5), accompaniment_db=6.0, keep_stems=True)
    v, b = fixed.stems["voice"], fixed.stems["accompaniment"]
    assert 20 * np.log10(np.sqrt(np.mean(v**2)) / np.sqrt(np.mean(b**2))) == pytest.approx(6.0, abs=0.01)


def test_default_splits_hold_the_hard_conditions():
    params = _params(
        15.0, 2.0, 2.0, 0, DEFAULT_ACCOMPANIMENT_DB, DEFAULT_REVERB, (20, 40), DEFAULT_ACCOMPANIMENT_SHARE, True
    )
    for split in ("train", "val", "test"):
        flags = [accompanied(0, s, i, DEFAULT_ACCOMPANIMENT_SHARE) for s, i in _plan(params) if s == split]
        assert len(flags) >= 3 and 0 < sum(flags) < len(flags)  # accompanied and a cappella songs in every split
        assert abs(sum(flags) - DEFAULT_ACCOMPANIMENT_SHARE * len(flags)) <= 1


def test_recording_chain_changes_the_spectrum():
    plain = render_song(4, "val", 2, song_seconds=(5, 6))
    recorded = render_song(4, "val", 2, song_seconds=(5, 6), recording_chain=True)
    np.testing.assert_array_equal(plain.f0, recorded.f0)  # the labels stay
    chain = recorded.info["recording_chain"]
    assert plain.info["recording_chain"] is None and 20 <= chain["snr_db"] <= 50 and 40 <= chain["low_cut_hz"] <= 150

    def band_levels(pcm):
        freqs, psd = signal.welch(pcm.astype(np.float64), fs=16000, nperseg=2048)
        edges = 125 * 2.0 ** np.arange(0, 6.5, 0.5)  # half-octave bands, 125 Hz - 7 kHz
        levels = np.array([psd[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
        return 10 * np.log10(levels / levels.sum())

    change = band_levels(recorded.pcm) - band_levels(plain.pcm)
    assert np.abs(change).max() > 1.0, change  # the microphone colours the balance of the bands
    # same length, different samples (EQ, noise and the drawn peak level)
    assert recorded.pcm.shape == plain.pcm.shape and not np.array_equal(recorded.pcm, plain.pcm)


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
    assert len(dry.pcm[tail]) > 800  # every song ends 0.3-1 s after its last note
    assert np.abs(a.pcm[tail].astype(float)).mean() > np.abs(dry.pcm[tail].astype(float)).mean()


def test_room_wetness_is_drawn_apart_from_its_length():
    """At one amount (one RT60) rooms differ in reverberant/direct energy by WETNESS_DB."""
    from gru_attn.data.singer.mix import WETNESS_DB, apply_reverb

    impulse = np.zeros(16000 * 3)
    impulse[0] = 1.0
    amount = 0.25
    wet_db = []
    for seed in range(40):
        response = apply_reverb(np.random.default_rng(seed), impulse, amount)
        wet_db.append(10 * np.log10(np.sum(response[1:] ** 2) / (2 * amount * response[0] ** 2)))
    wet_db = np.array(wet_db)
    lo, hi = WETNESS_DB
    assert lo - 0.5 <= wet_db.min() and wet_db.max() <= hi + 0.5  # the tail's energy is set exactly
    assert wet_db.max() - wet_db.min() > 0.6 * (hi - lo)  # and spread over the range


def test_bad_parameters(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(InputError, match="not an empty folder"):
        generate_corpus(tmp_path / "full", **TINY)
    for bad in (
        {"reverb": 2.0},
        {"reverb": [0.5, 0.2]},
        {"reverb": [0.1, 0.2, 0.3]},
        {"minutes_train": 0},
        {"seed": -1},
        {"song_seconds": (1, 2)},
        {"accompaniment_db": float("nan")},
        {"accompaniment_db": [10, 5]},
        {"accompaniment_db": [0, 99]},
        {"accompaniment_share": 1.5},
        {"accompaniment_share": True},
        {"recording_chain": "yes"},
    ):
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


@pytest.mark.slow
def test_ensure_corpus_concurrent(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_ensure, [str(tmp_path)] * 2)
    assert paths[0] == paths[1]
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert folders == [Path(paths[0])] and (folders[0] / "corpus.json").is_file()


@pytest.mark.slow
def test_cli(capsys, tmp_path):
    out = tmp_path / "cli"
    cmd = [
        sys.executable,
        "-m",
        "gru_attn.synth",
        "--minutes",
        "0.05",
        "--val-minutes",
        "0",
        "--test-minutes",
        "0",
        "--song-seconds",
        "3",
        "4",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote 1 songs") and (out / "corpus.json").is_file()
    from gru_attn.synth import main  # the same CLI in process (saves an interpreter start)

    assert main([*cmd[3:-1], str(tmp_path / "bad"), "--reverb", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "reverb" in err


def _level_db(x: np.ndarray, t0: float, t1: float) -> float:
    """Mean power of the 16 kHz signal ``x`` over ``[t0, t1)`` s, in dB."""
    return float(10 * np.log10(np.mean(x[int(t0 * 16000) : int(t1 * 16000)] ** 2) + 1e-12))


def test_reattack_repeats_dip_the_voice_on_one_vowel():
    """With ``reattack_share``, a legato repeat of the same pitch may be sung as a re-attack of the vowel:
    no consonant, no pitch move, a short dip of the voicing (at its bottom the voice may stop for a frame,
    as at a glottal restart) that dips the dry voice's level, and the new note starts where the dip ends
    (the previous one ends there too)."""
    found, dips = 0, []
    for i in range(6):
        song = render_song(11, "train", i, keep_stems=True, reattack_share=0.5)
        plain = render_song(11, "train", i)
        np.testing.assert_array_equal(song.notes.onsets, plain.notes.onsets)  # the same score ...
        assert "reattack" not in plain.phonemes.kind  # ... and none by default
        n, p, voice = song.notes, song.phonemes, song.stems["voice"]
        kinds = np.array(p.kind)
        t = frame_times(len(song.f0))
        for j in np.flatnonzero(kinds == "reattack"):
            found += 1
            on, c0 = n.onsets[j], p.consonant_start[j]
            assert j > 0 and p.connected[j] and not p.melisma[j] and n.midi[j] == n.midi[j - 1]
            assert n.offsets[j - 1] == pytest.approx(on, abs=1 / 400) and 0.005 < on - c0 <= 0.1 + 1e-9
            inside = song.f0[(t >= c0) & (t <= on)]
            assert np.sum(inside == 0) <= 1, (song.name, on)  # the voice stops for one frame at most (a glottal dip)
            assert np.all(song.f0[(t >= c0 - 0.04) & (t < c0)] > 0) and np.all(song.f0[(t > on) & (t <= on + 0.04)] > 0)
            # no pitch move: the true f0 stays near the note across the dip (vibrato aside)
            around = (t >= c0 - 0.02) & (t <= on + 0.02) & (song.f0 > 0)
            cents = 1200 * np.log2(song.f0[around] / midi_to_hz(n.midi[j]))
            assert np.abs(cents).max() < 100, (song.name, on, cents)
            mid = (c0 + on) / 2
            before, after, bottom = (
                _level_db(voice, a, b)
                for a, b in ((c0 - 0.05, c0 - 0.01), (on + 0.01, on + 0.05), (mid - 0.005, mid + 0.005))
            )
            dips.append(min(before, after) - bottom)
    assert found >= 4, found
    # the level dips, as at a re-attack (less where a short previous note shortens the dip, or the new note is softer)
    dips = np.array(dips)
    assert np.median(dips) > 6 and np.mean(dips > 3) >= 0.8, np.round(dips, 1)


def test_reattack_share_is_checked_and_names_its_own_corpus():
    """0 (the default) leaves the parameters, and so the cache folder of existing corpora, as they were;
    another share makes another corpus; a share outside [0, 1] is one clear error."""
    base = dict(minutes_train=1.0, minutes_val=0.5, minutes_test=0.5, seed=0)
    assert "reattack_share" not in _params(1.0, 0.5, 0.5, 0, None, 0.0, (20, 40), 0.0, True)
    assert corpus_name(**base) == corpus_name(**base, reattack_share=0.0) != corpus_name(**base, reattack_share=0.5)
    for bad in (-0.1, 1.5, True, "half"):
        with pytest.raises(InputError, match="reattack_share"):
            _params(1.0, 0.5, 0.5, 0, None, 0.0, (20, 40), 0.0, True, bad)
