"""transcribe CLI with a briefly trained model: MIDI == CSV, synth/plot outputs, VOCANO files, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from gru_attn.audio import load_audio
from gru_attn.checkpoint import load_checkpoint, save_checkpoint
from gru_attn.frames import SAMPLE_RATE
from gru_attn.inference import features_from_file, load_model, pitch_from_file, transcribe_audio
from gru_attn.notes import midi_to_hz, read_notes
from gru_attn.synth import corpus_name
from gru_attn.transcribe import render_notes

CLIP_SECONDS = 8.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def trained_run(run_cli, tmp_path_factory):
    """A fast_test training run. Its decoding thresholds are low so that this barely trained model
    finds notes (the checkpoint carries them to transcribe)."""
    out = tmp_path_factory.mktemp("trained_run")
    run_cli(["-m", "gru_attn.train", "experiment=fast_test", "decode.onset_threshold=0.1",
             "decode.offset_threshold=0.1", f"hydra.run.dir={out}"], check=True)
    return out


@pytest.fixture(scope="module")
def corpus_root(trained_run):
    """The synthetic corpus the run trained on."""
    corpus = load_checkpoint(trained_run / "checkpoints" / "best.pt")["config"]["data"]["corpus"]
    params = {k: v for k, v in corpus.items() if k not in ("_target_", "root_dir")}
    return Path(corpus["root_dir"]) / corpus_name(**params)


@pytest.fixture(scope="module")
def clip(corpus_root, tmp_path_factory):
    """The first CLIP_SECONDS (at most) of the corpus' first test song, as a 16-bit WAV."""
    audio, rate = sf.read(corpus_root / "wav" / "test_0000.wav", dtype="int16")
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, audio[: int(CLIP_SECONDS * rate)], rate, subtype="PCM_16")
    return path


def test_transcribe_clip_writes_midi_matching_csv(run_cli, trained_run, clip, tmp_path):
    ckpt = trained_run / "checkpoints" / "best.pt"
    proc = run_cli(["-m", "gru_attn.transcribe", str(clip), "--ckpt", str(ckpt), "--out", str(tmp_path),
                    "--device", "auto", "--synth", "--plot"], check=True)
    line = proc.stdout.strip().splitlines()[-1]
    seconds = sf.info(clip).duration  # the song may be shorter than CLIP_SECONDS
    assert line.startswith("clip: ") and "notes" in line and "RTF" in line and f"{seconds:.1f} s of audio" in line

    csv_notes = read_notes(tmp_path / "clip.csv")
    midi_notes = read_notes(tmp_path / "clip.mid")  # a valid MIDI file: pretty_midi reads it back
    assert len(csv_notes) >= 1 and len(midi_notes) == len(csv_notes)
    np.testing.assert_allclose(midi_notes.onsets, csv_notes.onsets, atol=1e-3)
    np.testing.assert_allclose(midi_notes.offsets, csv_notes.offsets, atol=1e-3)
    np.testing.assert_array_equal(midi_notes.midi, np.rint(csv_notes.midi))
    header, *rows = (tmp_path / "clip.csv").read_text().splitlines()
    assert header == "onset,offset,midi,hz"
    hz = np.array([float(r.split(",")[3]) for r in rows])
    np.testing.assert_allclose(hz, midi_to_hz(csv_notes.midi), rtol=1e-5)
    assert csv_notes.offsets.max() <= seconds

    # the same notes as transcribing in-process with the checkpoint
    model, info = load_model(ckpt)
    expected = transcribe_audio(model, info, load_audio(clip)).notes
    np.testing.assert_allclose(csv_notes.onsets, expected.onsets, atol=1e-6)
    np.testing.assert_allclose(csv_notes.midi, expected.midi, atol=1e-3)

    synth, rate = sf.read(tmp_path / "clip.synth.wav")
    assert rate == SAMPLE_RATE and len(synth) == pytest.approx(seconds * SAMPLE_RATE, abs=1)
    inside = np.zeros(len(synth), dtype=bool)
    for a, b in zip(csv_notes.onsets, csv_notes.offsets):
        inside[int(a * rate):int(b * rate)] = True
    assert np.abs(synth[inside]).max() > 0.05 and np.abs(synth[~inside]).max(initial=0.0) == 0.0
    assert (tmp_path / "clip.png").stat().st_size > 10_000


def test_vocano_feature_files_and_wrong_layout(run_cli, trained_run, corpus_root, tmp_path):
    ckpt = trained_run / "checkpoints" / "best.pt"
    feat, pitch = corpus_root / "feat" / "test_0000_feat.npy", corpus_root / "pitch" / "test_0000_pitch.npy"
    run_cli(["-m", "gru_attn.transcribe", "--ckpt", str(ckpt), "--feat", str(feat), "--pitch", str(pitch),
             "--out", str(tmp_path), "--name", "song"], check=True)
    model, info = load_model(ckpt)
    expected = transcribe_audio(model, info, feats=features_from_file(feat), pitch=pitch_from_file(pitch)).notes
    np.testing.assert_allclose(read_notes(tmp_path / "song.csv").onsets, expected.onsets, atol=1e-6)

    other = tmp_path / "other_feat.npy"
    np.save(other, np.load(feat)[: 9 * 100])  # 100 bins per block instead of 174
    proc = run_cli(["-m", "gru_attn.transcribe", "--ckpt", str(ckpt), "--feat", str(other), "--pitch", str(pitch),
                    "--out", str(tmp_path)])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert "different feature layout" in proc.stderr and str(other) in proc.stderr


def test_folder_with_one_corrupt_file(run_cli, trained_run, clip, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    shutil.copy(clip, folder / "a.wav")
    (folder / "b.wav").write_bytes(b"RIFF....not really a wave file" * 20)
    shutil.copy(clip, folder / "c.wav")
    proc = run_cli(["-m", "gru_attn.transcribe", str(folder), "--ckpt", str(trained_run / "checkpoints" / "best.pt"),
                    "--out", str(out)])
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(folder / "b.wav") in errors[0] and "audio" in errors[0]
    assert "Traceback" not in proc.stderr
    for name in ("a", "c"):
        assert (out / f"{name}.mid").is_file() and (out / f"{name}.csv").is_file()
        assert any(line.startswith(f"{name}: ") for line in proc.stdout.splitlines())
    assert not list(out.glob("b.*"))
    assert "transcribed 2 of 3 files" in proc.stdout


def test_incompatible_checkpoints(run_cli, trained_run, clip, tmp_path):
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("onset,offset,midi\n")
    state = torch.load(trained_run / "checkpoints" / "best.pt", weights_only=True)
    state["model_config"]["hidden_dim"] = 2 * state["model_config"]["hidden_dim"]  # another model size
    other_size = save_checkpoint(state, tmp_path / "other_size.pt")
    for path, message in ((not_a_checkpoint, "not a gru_attn checkpoint"), (other_size, "weights do not fit")):
        proc = run_cli(["-m", "gru_attn.transcribe", str(clip), "--ckpt", str(path), "--out", str(tmp_path / "o")])
        assert proc.returncode == 2
        assert proc.stderr.strip().startswith(f"error: {path}") and message in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_render_notes_places_tones_inside_notes():
    from gru_attn.notes import NoteList

    notes = NoteList([0.1, 0.5], [0.3, 0.52], [69, 81])
    audio = render_notes(notes, 1.0)
    assert audio.shape == (SAMPLE_RATE,) and audio.dtype == np.float32
    assert np.abs(audio[:1600]).max() == 0 and np.abs(audio[int(0.3 * SAMPLE_RATE) + 1:8000]).max() == 0
    spectrum = np.abs(np.fft.rfft(audio[1600:4800]))
    assert np.argmax(spectrum) * SAMPLE_RATE / 3200 == pytest.approx(440, abs=5)
    assert np.abs(audio).max() <= 0.3 + 1e-6
