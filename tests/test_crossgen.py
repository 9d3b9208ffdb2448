"""The cross-generator evaluation set (fluidsynth + GM voices): determinism, labels, mixing, evaluation.

Needs the ``fluidsynth`` program and the GM soundfont (``apt-get install fluidsynth
fluid-soundfont-gm``; ``bash tests/setup.sh`` installs them). Without them these tests fail, not skip.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gru_attn.audio import load_audio
from gru_attn.frames import frame_times
from gru_attn.notes import read_notes
from gru_attn.pitch import track_pitch
from gru_attn.tools import crossgen
from gru_attn.tools.crossgen import calibrate, compose, midi, render
from gru_attn.tools.crossgen import cli as crossgen_cli

SONGS, SECONDS, SEED = 1, 8.0, 3


@pytest.fixture(scope="module")
def tools():
    """Fail (never skip) with the install hint when fluidsynth or the soundfont is missing."""
    if shutil.which("fluidsynth") is None or not crossgen.DEFAULT_SOUNDFONT.is_file():
        pytest.fail(
            "fluidsynth or /usr/share/sounds/sf2/FluidR3_GM.sf2 missing: "
            "apt-get install fluidsynth fluid-soundfont-gm (bash tests/setup.sh installs them)"
        )
    return crossgen.DEFAULT_SOUNDFONT


@pytest.fixture(scope="module")
def tiny_set(tools, tmp_path_factory):
    out = tmp_path_factory.mktemp("crossgen") / "set"
    manifest = crossgen.generate(out, songs=SONGS, seconds=SECONDS, seed=SEED)
    return out, manifest


@pytest.fixture(scope="module")
def rendered(tiny_set, tools, tmp_path_factory):
    """Every song of the tiny set rendered again in memory, with its stems."""
    _, manifest = tiny_set
    calibration = {int(k): v for k, v in manifest["calibration"].items()}
    work = tmp_path_factory.mktemp("crossgen_work")
    return {
        c: crossgen.render_song(
            c, 0, seed=SEED, seconds=SECONDS, soundfont=tools, workdir=work, calibration=calibration
        )
        for c in crossgen.CONDITIONS
    }


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "set.json"
    }


@pytest.mark.slow
def test_generation_is_deterministic_and_cached(tiny_set, tmp_path):
    out, manifest = tiny_set
    files = _files(out)
    assert sorted(files) == sorted(
        f"{c}/{sub}/{c}_000.{ext}"
        for c in crossgen.CONDITIONS
        for sub, ext in (("wav", "wav"), ("notes", "csv"), ("meta", "json"))
    )
    again = crossgen.generate(tmp_path / "again", songs=SONGS, seconds=SECONDS, seed=SEED)
    assert _files(tmp_path / "again") == files
    assert again == manifest
    wav = out / "clean/wav/clean_000.wav"
    before = wav.stat().st_mtime_ns
    crossgen.generate(out, songs=SONGS, seconds=SECONDS, seed=SEED)  # cached: nothing re-rendered
    assert wav.stat().st_mtime_ns == before
    other = crossgen.generate(tmp_path / "other", songs=SONGS, seconds=SECONDS, seed=SEED + 1)
    assert (tmp_path / "other/clean/wav/clean_000.wav").read_bytes() != wav.read_bytes()
    assert other["calibration"] == manifest["calibration"]


def test_written_song_is_the_rendered_mix_with_labels(tiny_set, rendered):
    out, _ = tiny_set
    for condition, song in rendered.items():
        audio = load_audio(out / condition / "wav" / f"{condition}_000.wav")
        assert audio.shape == (int(SECONDS * 16000),)
        np.testing.assert_allclose(audio, song["audio"], atol=2 / 32767)
        assert 0.3 <= np.max(np.abs(audio)) <= 0.9
        notes = read_notes(out / condition / "notes" / f"{condition}_000.csv")
        np.testing.assert_allclose(notes.to_rows(), song["notes"].to_rows(), atol=1e-6)
        assert len(notes) >= 4
        durations = notes.offsets - notes.onsets
        assert durations.min() >= 0.1 and durations.max() <= 1.6
        assert notes.midi.min() >= 48 and notes.midi.max() <= 76


def test_labels_agree_with_praat_pitch_of_the_voice(rendered):
    errors = []
    for song in rendered.values():
        f0 = track_pitch(song["stems"]["voice"], "praat")
        t = frame_times(len(f0))
        for onset, offset, pitch in song["notes"].to_rows():
            inside = (t >= onset + 0.03) & (t < offset - 0.03) & (f0 > 0)
            assert inside.sum() >= 2, (onset, offset)
            errors.append(abs(np.median(69 + 12 * np.log2(f0[inside] / 440)) - pitch) * 100)
    errors = np.array(errors)
    assert len(errors) >= 15
    assert np.mean(errors < 50) >= 0.95, np.round(errors)


def test_onsets_and_offsets_sit_at_the_energy_rise_and_fall(rendered):
    rises, falls = [], []
    for song in rendered.values():
        env = calibrate.envelope_db(song["stems"]["voice"])
        rows = song["notes"].to_rows()
        for k, (onset, offset, _) in enumerate(rows):
            detached_in = k == 0 or onset - rows[k - 1][1] > 0.02
            detached_out = k == len(rows) - 1 or rows[k + 1][0] - offset > 0.02
            if detached_in:
                i = int(onset / 0.01)
                rises.append(env[i + 3] - env[i - 4])  # 30 ms after vs 40 ms before
            if detached_out:
                i = int(offset / 0.01)
                falls.append(env[i - 3] - env[i + 3])
    assert len(rises) >= 10 and len(falls) >= 10
    assert min(rises) > 20 and min(falls) > 10, (np.round(rises), np.round(falls))


def test_voiced_consonants_dip_the_voice_before_the_shared_boundary(rendered):
    dips = []
    for song in rendered.values():
        env = calibrate.envelope_db(song["stems"]["voice"])
        labels = song["notes"]
        for k, n in enumerate(song["score"][:-1]):
            if n.dip_db:
                assert labels.offsets[k] == labels.onsets[k + 1] == n.end  # one shared boundary
                dips.append(env[int((n.end + 0.08) / 0.01)] - env[int((n.end - 0.4 * n.glide) / 0.01)])
    assert len(dips) >= 2 and min(dips) > 6, np.round(dips)


def test_glides_label_the_pitch_move(tools, tmp_path):
    notes = [
        compose.Note(1.0, 1.6, 60, 100, (1.0, 1.0), glide=0.06, vibrato=(5.5, 0.0, 0.0)),
        compose.Note(1.6, 2.4, 64, 100, (1.0, 1.0), vibrato=(5.5, 0.0, 0.0)),
    ]
    midi.assign_channels(notes)
    assert notes[0].channel == notes[1].channel  # one sampled voice, bent to the new pitch
    midi.voice_midi(notes, 53, tmp_path / "glide.mid")
    audio = render.render_midi(tmp_path / "glide.mid", tools, 3.0)
    f0 = track_pitch(audio, "praat")
    t = frame_times(len(f0))
    pitch = 69 + 12 * np.log2(np.maximum(f0, 1) / 440)
    assert np.all(np.abs(pitch[(t > 1.1) & (t < 1.55)] - 60) < 0.3)
    assert np.all(np.abs(pitch[(t > 1.65) & (t < 2.3)] - 64) < 0.3)
    labels = compose.reference_labels(notes, {"on": 0.015, "off": -0.015})
    assert labels.offsets[0] == labels.onsets[1] == 1.6


def test_accompaniment_and_noise_at_the_drawn_ratios(rendered):
    acc = rendered["accompaniment"]
    ratio = 20 * np.log10(render.rms(acc["stems"]["voice"]) / render.rms(acc["stems"]["accompaniment"]))
    assert 6 <= acc["meta"]["ratio_db"] <= 12
    assert ratio == pytest.approx(acc["meta"]["ratio_db"], abs=0.01)
    np.testing.assert_allclose(
        acc["audio"], (acc["stems"]["voice"] + acc["stems"]["accompaniment"]) * acc["meta"]["gain"], atol=1e-9
    )
    # the accompaniment is pitched music under the voice, not silence
    assert (
        np.mean(track_pitch(acc["stems"]["accompaniment"] / np.max(np.abs(acc["stems"]["accompaniment"])), "praat") > 0)
        > 0.3
    )
    rev = rendered["reverb"]
    snr = 20 * np.log10(render.rms(rev["stems"]["wet"]) / render.rms(rev["stems"]["noise"]))
    assert 15 <= rev["meta"]["snr_db"] <= 30 and snr == pytest.approx(rev["meta"]["snr_db"], abs=0.01)
    assert 0.3 <= rev["meta"]["rt60_s"] <= 1.0
    # the room smears the voice: energy after the last note's end
    end = rev["notes"].offsets[-1]
    voice_tail = render.rms(rev["stems"]["voice"][int((end + 0.05) * 16000) : int((end + 0.15) * 16000)])
    wet_tail = render.rms(rev["stems"]["wet"][int((end + 0.05) * 16000) : int((end + 0.15) * 16000)])
    assert wet_tail > 10 * voice_tail


def test_missing_fluidsynth_is_one_line(run_cli, tmp_path):
    # a fresh process: this one has found (and cached) fluidsynth already
    proc = run_cli(
        ["-m", "gru_attn.crossgen", "--out", str(tmp_path / "set"), "--songs", "1", "--seconds", "8"],
        env={"PATH": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: fluidsynth not found: apt-get install fluidsynth fluid-soundfont-gm"


def test_bad_options_are_one_line(capsys, tools, tmp_path):
    for args, expected in (
        (["--songs", "0"], "--songs 0"),
        (["--seconds", "2"], "--seconds 2.0"),
        (["--conditions", "studio"], "--conditions studio"),
        (["--soundfont", str(tmp_path / "none.sf2")], "soundfont not found"),
        (["--ckpt", "x.pt", "--pitch-method", "yin"], "--pitch-method yin"),
    ):
        assert crossgen_cli.main(["--out", str(tmp_path / "set"), *args]) == 2, args
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err


@pytest.mark.slow
def test_evaluation_end_to_end_with_a_tiny_checkpoint(run_cli, tiny_set, trained_run, tmp_path):
    out, _ = tiny_set
    ckpt = trained_run / "checkpoints/best.pt"  # the session's trained model, in a folder named "run"
    proc = run_cli(
        [
            "-m",
            "gru_attn.crossgen",
            "--out",
            str(out),
            "--songs",
            str(SONGS),
            "--seconds",
            str(SECONDS),
            "--seed",
            str(SEED),
            "--ckpt",
            str(ckpt),
            "--report",
            str(tmp_path / "report"),
        ],
        check=True,
    )
    table = (tmp_path / "report/run_best.md").read_text()
    assert table in proc.stdout
    results = json.loads((tmp_path / "report/run_best.json").read_text())
    assert set(results["rows"]) == {"model", "baseline"}
    for system, rows in results["rows"].items():
        assert list(rows) == [*crossgen.CONDITIONS, "all"]
        for condition, row in rows.items():
            assert 0 <= row["COnP_f1"] <= 1 and f"| {condition} |" in table
        mean = np.mean([results["per_song"][system][f"{c}_000"]["COnP_f1"] for c in crossgen.CONDITIONS])
        assert rows["all"]["COnP_f1"] == pytest.approx(mean)
    # the labels fit the audio: the naive Praat segmenter finds most clean notes
    assert results["rows"]["baseline"]["clean"]["COnP_f1"] > 0.6
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    proc = run_cli(
        [
            "-m",
            "gru_attn.crossgen",
            "--out",
            str(out),
            "--songs",
            str(SONGS),
            "--seconds",
            str(SECONDS),
            "--seed",
            str(SEED),
            "--ckpt",
            str(bad),
        ]
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "weights_only=False" not in proc.stderr


@pytest.mark.slow
def test_decode_cache_val_songs_carry_the_level_validation_reads(trained_run, tmp_path):
    """``decode_cache --val`` stores each val song's audio level, as validation computes it."""
    from gru_attn.decode_cache import cache_sets
    from gru_attn.evaluate import corpus_from_config
    from gru_attn.inference import load_model
    from gru_attn.level import level_for_frames

    ckpt = trained_run / "checkpoints/best.pt"
    record = cache_sets(ckpt, tmp_path / "cache", val=True)
    assert record["sets"]["val"]["songs"] >= 1
    songs, wav_dir = corpus_from_config(load_model(ckpt, "cpu")[1], "val", with_wav_dir=True)
    for song in songs:
        with np.load(tmp_path / "cache" / "val" / f"{song.name}.npz") as data:
            expected = level_for_frames(load_audio(wav_dir / f"{song.name}.wav"), len(data["logits"]))
            np.testing.assert_allclose(data["level"], expected, atol=1e-3)
            assert np.ptp(data["level"]) > 20.0  # notes and rests: a real level curve, not a constant
