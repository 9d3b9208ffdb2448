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
from gru_attn.decode import DecodeParams
from gru_attn.errors import InputError
from gru_attn.frames import SAMPLE_RATE
from gru_attn.inference import features_from_file, load_model, pitch_from_file, transcribe_audio
from gru_attn.notes import midi_to_hz, read_notes
from gru_attn.sonify import render_notes
from gru_attn.synth import corpus_name
from gru_attn.transcribe import list_inputs, main, note_confidence, parse_formats, write_outputs

CLIP_SECONDS = 8.0


@pytest.fixture(scope="module")
def low_threshold_run(trained_run, tmp_path_factory):
    """The session's trained run (tests/conftest.py) with the peak-picking decoder at onset/offset
    thresholds of 0.1 in its checkpoint, so that this barely trained model finds notes (the
    checkpoint carries its decoder to transcribe). A folder holding ``checkpoints/best.pt``."""
    state = load_checkpoint(trained_run / "checkpoints" / "best.pt")
    state["decode"] = DecodeParams(onset_threshold=0.1, offset_threshold=0.1).as_dict()
    out = tmp_path_factory.mktemp("low_threshold_run")
    save_checkpoint(state, out / "checkpoints" / "best.pt")
    return out


@pytest.fixture(scope="module")
def corpus_root(low_threshold_run):
    """The synthetic corpus the run trained on."""
    corpus = load_checkpoint(low_threshold_run / "checkpoints" / "best.pt")["config"]["data"]["corpus"]
    params = {k: v for k, v in corpus.items() if k not in ("_target_", "root_dir")}
    return Path(corpus["root_dir"]) / corpus_name(**params)


@pytest.fixture(scope="module")
def clip(corpus_root, tmp_path_factory):
    """The first CLIP_SECONDS (at most) of the corpus' first test song, as a 16-bit WAV."""
    audio, rate = sf.read(corpus_root / "wav" / "test_0000.wav", dtype="int16")
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, audio[: int(CLIP_SECONDS * rate)], rate, subtype="PCM_16")
    return path


@pytest.mark.slow
def test_transcribe_clip_writes_midi_matching_csv(run_cli, low_threshold_run, clip, tmp_path):
    ckpt = low_threshold_run / "checkpoints" / "best.pt"
    proc = run_cli(
        [
            "-m",
            "gru_attn.transcribe",
            str(clip),
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path),
            "--device",
            "auto",
            "--synth",
            "--plot",
        ],
        check=True,
    )
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
    assert header == "onset,offset,midi,hz,confidence"
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
        inside[int(a * rate) : int(b * rate)] = True
    assert np.abs(synth[inside]).max() > 0.05 and np.abs(synth[~inside]).max(initial=0.0) == 0.0
    assert (tmp_path / "clip.png").stat().st_size > 10_000


@pytest.mark.slow
def test_vocano_feature_files_and_wrong_layout(run_cli, low_threshold_run, corpus_root, tmp_path):
    ckpt = low_threshold_run / "checkpoints" / "best.pt"
    feat, pitch = corpus_root / "feat" / "test_0000_feat.npy", corpus_root / "pitch" / "test_0000_pitch.npy"
    run_cli(
        [
            "-m",
            "gru_attn.transcribe",
            "--ckpt",
            str(ckpt),
            "--feat",
            str(feat),
            "--pitch",
            str(pitch),
            "--out",
            str(tmp_path),
            "--name",
            "song",
        ],
        check=True,
    )
    model, info = load_model(ckpt)
    expected = transcribe_audio(model, info, feats=features_from_file(feat), pitch=pitch_from_file(pitch)).notes
    np.testing.assert_allclose(read_notes(tmp_path / "song.csv").onsets, expected.onsets, atol=1e-6)

    other = tmp_path / "other_feat.npy"
    np.save(other, np.load(feat)[: 9 * 100])  # 100 bins per block instead of 174
    proc = run_cli(
        [
            "-m",
            "gru_attn.transcribe",
            "--ckpt",
            str(ckpt),
            "--feat",
            str(other),
            "--pitch",
            str(pitch),
            "--out",
            str(tmp_path),
        ]
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert "different feature layout" in proc.stderr and str(other) in proc.stderr


@pytest.mark.slow
def test_folder_with_one_corrupt_file(run_cli, low_threshold_run, clip, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    shutil.copy(clip, folder / "a.wav")
    (folder / "b.wav").write_bytes(b"RIFF....not really a wave file" * 20)
    shutil.copy(clip, folder / "c.wav")
    proc = run_cli(
        [
            "-m",
            "gru_attn.transcribe",
            str(folder),
            "--ckpt",
            str(low_threshold_run / "checkpoints" / "best.pt"),
            "--out",
            str(out),
        ]
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(folder / "b.wav") in errors[0] and "audio" in errors[0]
    assert "Traceback" not in proc.stderr
    for name in ("a", "c"):
        assert (out / f"{name}.mid").is_file() and (out / f"{name}.csv").is_file()
        assert any(line.startswith(f"{name}: ") for line in proc.stdout.splitlines())
    assert not list(out.glob("b.*"))
    assert "transcribed 2 of 3 files" in proc.stdout


@pytest.mark.slow
def test_incompatible_checkpoints(run_cli, low_threshold_run, clip, tmp_path):
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("onset,offset,midi\n")
    state = torch.load(low_threshold_run / "checkpoints" / "best.pt", weights_only=True)
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
    assert np.abs(audio[:1600]).max() == 0 and np.abs(audio[int(0.3 * SAMPLE_RATE) + 1 : 8000]).max() == 0
    spectrum = np.abs(np.fft.rfft(audio[1600:4800]))
    assert np.argmax(spectrum) * SAMPLE_RATE / 3200 == pytest.approx(440, abs=5)
    assert np.abs(audio).max() <= 0.3 + 1e-6


# --------------------------------------------------------------------------- output conventions


def fake_result(notes, n_frames=100):
    """A Transcription of ``notes`` with flat probabilities (voiced 0.8, onset 0.5, one onset peak 0.9 at 0.2 s)."""
    from gru_attn.inference import Transcription

    probs = np.zeros((n_frames, 3), dtype=np.float32)
    probs[:, 0], probs[:, 1] = 0.8, 0.5
    probs[9, 1] = 0.9  # frame 9 = 0.2 s
    return Transcription(
        notes=notes, probs=probs, pitch=np.full(n_frames, 220.0), duration_s=n_frames * 0.02, timings={}
    )


def fake_info():
    from gru_attn.decode import DecodeParams
    from gru_attn.inference import ModelInfo

    return ModelInfo(
        path=Path("model.pt"), model_config={}, feature_layout={}, decode=DecodeParams(), pitch_method="praat"
    )


def test_note_confidence_is_mean_voiced_times_onset_peak():
    from gru_attn.notes import NoteList

    probs = np.zeros((50, 3))
    probs[10:20, 0] = np.linspace(0.5, 1.0, 10)  # note 1 covers frames 10..19
    probs[11, 1] = 0.8  # onset peak one frame after the onset frame: still counts
    probs[30:40, 0] = 0.4
    probs[30, 1], probs[33, 1] = 0.3, 1.0  # the 1.0 is 3 frames away: does not count
    notes = NoteList([0.22, 0.62], [0.42, 0.82], [60, 62])  # frames [10, 20) and [30, 40)
    np.testing.assert_allclose(note_confidence(notes, probs), [0.75 * 0.8, 0.4 * 0.3])
    assert note_confidence(NoteList.empty(), probs).shape == (0,)
    ends_late = NoteList([0.9], [5.0], [60])  # beyond the probabilities: clipped to the last frames
    assert 0.0 <= note_confidence(ends_late, probs)[0] <= 1.0


def test_parse_formats():
    assert parse_formats("mid,csv") == ("mid", "csv")
    assert parse_formats(" JSON, txt ,json") == ("json", "txt")
    for bad in ("mid,xml", "", ",", "midi"):
        with pytest.raises(InputError, match="--formats"):
            parse_formats(bad)


def test_list_inputs_glob(tmp_path):
    for rel in ("b.wav", "a.flac", "notes.txt", "sub/c.wav", "sub/deeper/d.WAV"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = lambda files: [str(p.relative_to(tmp_path)) for p in files]  # noqa: E731
    assert names(list_inputs(tmp_path)) == ["a.flac", "b.wav"]  # default: the audio extensions, not recursive
    assert names(list_inputs(tmp_path, "*.wav")) == ["b.wav"]
    assert names(list_inputs(tmp_path, "**/*.wav")) == ["b.wav", "sub/c.wav"]
    assert names(list_inputs(tmp_path, "sub/*")) == ["sub/c.wav"]
    with pytest.raises(InputError, match=r"no files match --glob '\*\.mp3'"):
        list_inputs(tmp_path, "*.mp3")
    with pytest.raises(InputError, match="goes with a folder"):
        list_inputs(tmp_path / "b.wav", "*.wav")
    (tmp_path / "sub" / "b.wav").write_bytes(b"")
    with pytest.raises(InputError, match="same name as"):
        list_inputs(tmp_path, "**/b.wav")


def test_write_outputs_all_formats(tmp_path):
    import json

    import pretty_midi

    from gru_attn.notes import NoteList

    notes = NoteList([0.22, 0.5], [0.4, 1.0], [57.2, 60.0])
    paths = write_outputs(
        "song",
        fake_result(notes),
        fake_info(),
        tmp_path,
        ("txt", "json", "csv", "mid"),
        tempo=75.0,
        synth=True,
        plot=True,
    )
    assert [p.name for p in paths] == ["song.txt", "song.json", "song.csv", "song.mid", "song.synth.wav", "song.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary files left
    assert (tmp_path / "song.txt").read_text() == "0.22 0.4 57.2\n0.5 1 60\n"
    assert json.loads((tmp_path / "song.json").read_text()) == {"song": [[0.22, 0.4, 57.2], [0.5, 1.0, 60.0]]}
    header, *rows = (tmp_path / "song.csv").read_text().splitlines()
    assert header == "onset,offset,midi,hz,confidence"
    assert [float(r.split(",")[-1]) for r in rows] == pytest.approx([0.8 * 0.9, 0.8 * 0.5])
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "song.mid"))
    assert list(pm.get_tempo_changes()[1]) == pytest.approx([75.0])
    for path in paths[:4]:
        back = read_notes(path)
        np.testing.assert_allclose(back.onsets, notes.onsets, atol=3e-4)
        np.testing.assert_allclose(back.offsets, notes.offsets, atol=3e-4)


def test_write_outputs_all_or_nothing(tmp_path):
    from gru_attn.notes import NoteList

    (tmp_path / "song.csv").write_text("old\n")
    with pytest.raises(InputError, match="outside 0..127"):  # the MIDI file cannot hold pitch 130
        write_outputs(
            "song", fake_result(NoteList([0.2], [0.4], [130.0])), fake_info(), tmp_path, ("txt", "csv", "mid")
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.csv"]
    assert (tmp_path / "song.csv").read_text() == "old\n"


@pytest.mark.parametrize(
    "options, message",
    [
        (["--formats", "mid,xml"], "--formats 'mid,xml'"),
        (["--tempo", "0"], "--tempo 0: expected 4 to 400 bpm"),
        (["--glob", "*.wav"], "--glob goes with a folder"),
    ],
)
def test_bad_output_options_exit_2(capsys, tmp_path, options, message):
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.zeros(1600, dtype=np.float32), SAMPLE_RATE)
    assert main([str(clip), "--ckpt", str(tmp_path / "none.pt"), "--out", str(tmp_path / "o"), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_formats_tempo_confidence_and_overwrite(capsys, low_threshold_run, clip, tmp_path):
    import json

    import pretty_midi

    ckpt = str(low_threshold_run / "checkpoints" / "best.pt")
    args = [str(clip), "--ckpt", ckpt, "--out", str(tmp_path), "--name", "take", "--formats", "mid,csv,txt,json"]
    assert main([*args, "--tempo", "90"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.csv", "take.json", "take.mid", "take.txt"]
    model, info = load_model(ckpt)
    expected = transcribe_audio(model, info, load_audio(clip))
    assert len(expected.notes) >= 1
    for suffix in (".csv", ".txt", ".json", ".mid"):
        back = read_notes(tmp_path / f"take{suffix}")
        np.testing.assert_allclose(back.onsets, expected.notes.onsets, atol=3e-4)
        np.testing.assert_allclose(back.offsets, expected.notes.offsets, atol=3e-4)
    assert list(json.loads((tmp_path / "take.json").read_text())) == ["take"]
    assert list(pretty_midi.PrettyMIDI(str(tmp_path / "take.mid")).get_tempo_changes()[1]) == pytest.approx([90.0])
    rows = (tmp_path / "take.csv").read_text().splitlines()[1:]
    confidence = np.array([float(r.split(",")[4]) for r in rows])
    np.testing.assert_allclose(confidence, note_confidence(expected.notes, expected.probs), atol=1e-4)
    assert np.all((confidence > 0) & (confidence <= 1))

    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    capsys.readouterr()
    assert main([*args, "--tempo", "60"]) == 1  # kept: one line naming the files
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and err.startswith(f"error: {tmp_path / 'take.mid'}, ")
    assert err.endswith(": exist (use --overwrite)") and all(str(tmp_path / n) in err for n in before)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

    (tmp_path / "take.txt").unlink()  # one output there is enough to keep the song
    assert main([str(clip), "--ckpt", ckpt, "--out", str(tmp_path), "--name", "take", "--formats", "txt,csv"]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'take.csv'}: exists (use --overwrite)"
    assert not (tmp_path / "take.txt").exists()

    assert main([*args, "--tempo", "60", "--overwrite"]) == 0
    assert list(pretty_midi.PrettyMIDI(str(tmp_path / "take.mid")).get_tempo_changes()[1]) == pytest.approx([60.0])
    assert (tmp_path / "take.csv").read_bytes() == before["take.csv"]  # same notes, same confidence


@pytest.mark.slow
def test_cli_glob_folder_with_synth_and_plot(capsys, low_threshold_run, clip, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(clip, folder / "a.wav")
    shutil.copy(clip, folder / "sub" / "b.wav")
    (folder / "readme.txt").write_text("not audio")
    ckpt = str(low_threshold_run / "checkpoints" / "best.pt")
    assert (
        main(
            [
                str(folder),
                "--ckpt",
                ckpt,
                "--out",
                str(out),
                "--glob",
                "**/*.wav",
                "--synth",
                "--plot",
                "--formats",
                "csv",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "a.png", "a.synth.wav", "b.csv", "b.png", "b.synth.wav"]
    assert "transcribed 2 of 2 files" in capsys.readouterr().out
    assert (out / "a.csv").read_bytes() == (out / "b.csv").read_bytes()
