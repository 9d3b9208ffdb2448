"""preprocess CLI end to end: outputs, names, skip-if-up-to-date, bad files, exit codes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from gru_attn.audio import find_audio_files
from gru_attn.errors import InputError
from gru_attn.files import save_npy
from gru_attn.frames import SAMPLE_RATE, num_frames
from gru_attn.preprocess import main, output_paths, preprocess_file


def _write_tone(path, seconds: float, hz: float, rate: int = SAMPLE_RATE) -> int:
    """Write a sung-like tone (int16 WAV/FLAC) and return its length in samples at 16 kHz."""
    t = np.arange(int(seconds * rate)) / rate
    x = sum(0.3 / k * np.sin(2 * np.pi * k * hz * t) for k in range(1, 4))
    sf.write(path, x, rate, subtype="PCM_16")
    return int(np.ceil(t.size * SAMPLE_RATE / rate))


@pytest.fixture
def songs(tmp_path):
    """A folder with two valid songs (16 kHz WAV, 22.05 kHz FLAC) and their 16 kHz lengths."""
    folder = tmp_path / "audio"
    folder.mkdir()
    lengths = {
        "alpha": _write_tone(folder / "alpha.wav", 1.5, 220.0),
        "beta": _write_tone(folder / "beta.flac", 1.0, 330.0, rate=22050),
    }
    (folder / "notes.txt").write_text("not audio, ignored by extension\n")
    return folder, lengths


def _preprocess(run_cli, *args):
    return run_cli(["-m", "gru_attn.preprocess", *map(str, args)], timeout=300)


def _check_outputs(out, lengths):
    for name, n in lengths.items():
        feat = np.load(out / "feat" / f"{name}_feat.npy")
        pitch = np.load(out / "pitch" / f"{name}_pitch.npy")
        assert feat.dtype == np.float32 and feat.shape == (1566, num_frames(n))
        assert pitch.dtype == np.float64 and pitch.shape == (num_frames(n),)
        assert np.isfinite(feat).all() and (pitch >= 0).all()
    leftovers = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith((".npy"))]
    assert not leftovers, leftovers


@pytest.mark.slow
def test_folder_end_to_end_then_skip_then_force(run_cli, songs, tmp_path, capsys):
    folder, lengths = songs
    out = tmp_path / "generated"
    first = _preprocess(run_cli, folder, "--out", out, "--device", "cpu")
    assert first.returncode == 0, first.stderr
    assert "processed 2, skipped 0" in first.stdout and "failed 0" in first.stdout
    _check_outputs(out, lengths)
    feat_path = out / "feat" / "alpha_feat.npy"
    stamp = feat_path.stat().st_mtime_ns

    # the same CLI in process (saves an interpreter start): up to date is skipped, an edited input
    # is redone, --force redoes all
    capsys.readouterr()
    assert main([str(folder), "--out", str(out)]) == 0
    assert "processed 0, skipped 2" in capsys.readouterr().out
    assert feat_path.stat().st_mtime_ns == stamp
    os.utime(folder / "alpha.wav", ns=(stamp + 10**9, stamp + 10**9))
    assert main([str(folder), "--out", str(out)]) == 0
    assert "processed 1, skipped 1" in capsys.readouterr().out
    assert main([str(folder / "beta.flac"), "--out", str(out), "--force"]) == 0
    assert "processed 1, skipped 0" in capsys.readouterr().out
    _check_outputs(out, lengths)


def test_bad_file_is_reported_and_others_processed(songs, capsys, tmp_path):
    folder, lengths = songs
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    sf.write(folder / "quiet.wav", np.zeros(SAMPLE_RATE, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    out = tmp_path / "generated"
    code = main([str(folder), "--out", str(out)])  # the CLI in process
    proc = capsys.readouterr()
    assert code == 1
    errors = [line for line in proc.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert str(folder / "broken.wav") in errors[0] and "not a readable audio file" in errors[0]
    assert str(folder / "quiet.wav") in errors[1] and "silent" in errors[1]
    assert "Traceback" not in proc.err
    assert "processed 2, skipped 0 (up to date), failed 2" in proc.out
    _check_outputs(out, lengths)
    assert not (out / "feat" / "broken_feat.npy").exists()


def test_missing_input_exits_2(capsys, tmp_path):
    assert main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "generated")]) == 2  # the CLI in process
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nowhere'}: no such file or folder"
    assert not (tmp_path / "generated").exists()


def test_preprocess_file_returns_false_when_up_to_date(songs, tmp_path):
    folder, lengths = songs
    out = tmp_path / "generated"
    assert preprocess_file(folder / "alpha.wav", out, device="cpu")
    assert not preprocess_file(folder / "alpha.wav", out, device="cpu")
    feat_path, pitch_path = output_paths(folder / "alpha.wav", out)
    pitch_path.unlink()
    assert preprocess_file(folder / "alpha.wav", out, device="cpu")  # one output missing -> redo
    assert feat_path.is_file() and pitch_path.is_file()


def test_preprocess_file_errors_name_the_file(tmp_path):
    path = tmp_path / "tiny.wav"
    sf.write(path, np.full(10, 1000, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    with pytest.raises(InputError, match="too short") as info:
        preprocess_file(path, tmp_path / "generated")
    assert str(path) in str(info.value)


def test_find_audio_files(songs, tmp_path):
    folder, _ = songs
    assert [p.name for p in find_audio_files(folder)] == ["alpha.wav", "beta.flac"]
    assert find_audio_files(folder / "beta.flac") == [folder / "beta.flac"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no audio files"):
        find_audio_files(empty)
    _write_tone(folder / "alpha.flac", 1.0, 440.0)
    with pytest.raises(InputError, match="alpha"):
        find_audio_files(folder)


def test_save_npy_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "x_feat.npy"
    save_npy(path, np.arange(3.0))
    save_npy(path, np.arange(5.0))
    np.testing.assert_array_equal(np.load(path), np.arange(5.0))
    assert [p.name for p in path.parent.iterdir()] == ["x_feat.npy"]


def test_out_under_a_regular_file_is_one_line(songs, capsys, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    code = main([str(songs[0] / "alpha.wav"), "--out", str(blocker / "out")])  # the CLI in process
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert str(blocker / "out") in line and "output folder" in line
