"""evaluate: note metrics of a reference against itself / transposed, and the CLI on the tiny corpus."""

from __future__ import annotations

import csv
import json
import shutil

import mir_eval
import numpy as np
import pytest
import torch

from gru_attn.checkpoint import save_checkpoint
from gru_attn.errors import InputError
from gru_attn.evaluate import evaluate_notes
from gru_attn.frames import HOP_SECONDS, SAMPLE_RATE
from gru_attn.metrics import NOTE_METRIC_KEYS
from gru_attn.model import NoteSegmenter
from gru_attn.notes import NoteList, write_notes
from gru_attn.synth import DEFAULT_REVERB, corpus_name

# the fast_test corpus (conf/experiment/fast_test.yaml over conf/data/synthetic.yaml)
# the corpus of experiment=fast_test (conf/experiment/fast_test.yaml over conf/data/synthetic.yaml)
FAST_CORPUS = dict(minutes_train=0.5, minutes_val=0.25, minutes_test=0.25, seed=0, accompaniment_db=None,
                   reverb=list(DEFAULT_REVERB))
SMALL_MODEL = dict(n_channels=9, n_bins=174, hidden_dim=32, num_layers=1, num_heads=2, conv_channels=[8, 8],
                   dropout=0.0, context=9)


def reference_songs() -> dict[str, NoteList]:
    rng = np.random.default_rng(0)
    songs = {}
    for name, n in (("a", 12), ("b", 7)):
        onsets = np.cumsum(rng.uniform(0.2, 0.6, n))
        songs[name] = NoteList(onsets, onsets + rng.uniform(0.1, 0.19, n), rng.integers(50, 75, n))
    return songs


def test_reference_against_itself_scores_one():
    ref = reference_songs()
    per_song, mean = evaluate_notes(ref, ref)
    assert sorted(per_song) == ["a", "b"]
    for key in NOTE_METRIC_KEYS:
        assert mean[key] == pytest.approx(1.0), key
        assert all(row[key] == pytest.approx(1.0) for row in per_song.values()), key


def test_semitone_shift_kills_pitch_metrics_but_not_onsets():
    ref = reference_songs()
    shifted = {name: notes.shift(1.0) for name, notes in ref.items()}
    per_song, mean = evaluate_notes(ref, shifted)
    assert mean["COnP_f1"] == pytest.approx(0.0, abs=1e-9)
    assert mean["COnPOff_f1"] == pytest.approx(0.0, abs=1e-9)
    assert mean["COn_f1"] == pytest.approx(1.0)
    for name, notes in ref.items():  # mir_eval, called directly, agrees song by song
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            notes.intervals, notes.hz, shifted[name].intervals, shifted[name].hz,
            onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None)
        assert (per_song[name]["COnP_precision"], per_song[name]["COnP_recall"], per_song[name]["COnP_f1"]) == \
            pytest.approx((p, r, f))
    # a quarter tone (under the 50-cent tolerance) still counts as the right pitch
    _, mean = evaluate_notes(ref, {name: notes.shift(0.45) for name, notes in ref.items()})
    assert mean["COnP_f1"] == pytest.approx(1.0)


def test_songs_must_match():
    ref = reference_songs()
    with pytest.raises(InputError, match="'b'"):
        evaluate_notes(ref, {"a": ref["a"]})


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory, cache_dir):
    """A randomly initialised small model whose config names the fast_test synthetic corpus."""
    torch.manual_seed(0)
    model = NoteSegmenter(**SMALL_MODEL)
    path = tmp_path_factory.mktemp("eval_ckpt") / "random.pt"
    corpus = {"_target_": "gru_attn.corpus.load_synthetic_corpus", "root_dir": str(cache_dir / "synthetic"),
              **FAST_CORPUS}
    save_checkpoint({"model": model.state_dict(), "model_config": SMALL_MODEL,
                     "feature_layout": {"n_channels": 9, "n_bins": 174, "context": 9, "hop_seconds": HOP_SECONDS,
                                        "sample_rate": SAMPLE_RATE},
                     "decode": {"onset_threshold": 0.5}, "pitch_method": "praat", "epoch": 0,
                     "config": {"data": {"corpus": corpus}}}, path)
    return path


@pytest.mark.slow
def test_cli_on_tiny_corpus_test_split_and_wav_dir(run_cli, random_checkpoint, cache_dir, tmp_path):
    out = tmp_path / "eval"
    proc = run_cli(["-m", "gru_attn.evaluate", "--ckpt", str(random_checkpoint), "--out", str(out), "--save-notes"],
                   check=True)
    assert "COnPOff" in proc.stdout and "mean" in proc.stdout
    report = json.loads((out / "metrics.json").read_text())
    corpus_root = cache_dir / "synthetic" / corpus_name(**FAST_CORPUS)
    test_songs = json.loads((corpus_root / "splits.json").read_text())["test"]
    assert report["songs"] == len(test_songs) and sorted(report["per_song"]) == sorted(test_songs)
    for key in (*NOTE_METRIC_KEYS, "voiced_acc", "onset_f1", "offset_f1"):
        assert 0.0 <= report["mean"][key] <= 1.0, key
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["song"] for r in rows] == [*sorted(test_songs), "mean"]
    assert float(rows[-1]["COnP_f1"]) == pytest.approx(report["mean"]["COnP_f1"], abs=1e-6)
    assert all((out / "notes" / f"{name}.csv").is_file() for name in test_songs)

    # the same songs as plain audio + notes folders (features and pitch computed from the audio)
    wav_dir, notes_dir = tmp_path / "wav", tmp_path / "notes"
    wav_dir.mkdir()
    notes_dir.mkdir()
    name = test_songs[0]
    shutil.copy(corpus_root / "wav" / f"{name}.wav", wav_dir)
    shutil.copy(corpus_root / "notes" / f"{name}.csv", notes_dir)
    proc = run_cli(["-m", "gru_attn.evaluate", "--ckpt", str(random_checkpoint), "--wav-dir", str(wav_dir),
                    "--notes-dir", str(notes_dir), "--out", str(tmp_path / "eval_wav")], check=True)
    report = json.loads((tmp_path / "eval_wav" / "metrics.json").read_text())
    assert list(report["per_song"]) == [name] and report["per_song"][name]["frames"] > 0


def test_cli_errors(capsys, random_checkpoint, tmp_path):
    from gru_attn.evaluate import main  # the CLI in process

    notes_dir = tmp_path / "notes"
    write_notes(NoteList([0.1], [0.5], [60]), notes_dir / "x.csv")
    code = main(["--ckpt", str(random_checkpoint), "--wav-dir", str(tmp_path / "none"), "--notes-dir", str(notes_dir)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "none" in err
    assert "Traceback" not in err
    code = main(["--ckpt", str(random_checkpoint), "--feat-dir", str(tmp_path)])
    assert code == 2 and "--notes-dir" in capsys.readouterr().err
