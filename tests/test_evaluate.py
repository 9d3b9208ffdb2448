"""evaluate: note metrics of a reference against itself / transposed, and the CLI on the tiny corpus."""

from __future__ import annotations

import csv
import json
import shutil

import mir_eval
import numpy as np
import pytest
import torch

from gru_attn import checkpoint, evaluate
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
FAST_CORPUS = dict(
    minutes_train=0.5, minutes_val=0.25, minutes_test=0.25, seed=0, accompaniment_db=None, reverb=list(DEFAULT_REVERB)
)
SMALL_MODEL = dict(
    n_channels=9, n_bins=174, hidden_dim=32, num_layers=1, num_heads=2, conv_channels=[8, 8], dropout=0.0, context=9
)


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
            notes.intervals,
            notes.hz,
            shifted[name].intervals,
            shifted[name].hz,
            onset_tolerance=0.05,
            pitch_tolerance=50.0,
            offset_ratio=None,
        )
        assert (
            per_song[name]["COnP_precision"],
            per_song[name]["COnP_recall"],
            per_song[name]["COnP_f1"],
        ) == pytest.approx((p, r, f))
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
    corpus = {
        "_target_": "gru_attn.corpus.load_synthetic_corpus",
        "root_dir": str(cache_dir / "synthetic"),
        **FAST_CORPUS,
    }
    save_checkpoint(
        {
            "model": model.state_dict(),
            "model_config": SMALL_MODEL,
            "feature_layout": {
                "n_channels": 9,
                "n_bins": 174,
                "context": 9,
                "hop_seconds": HOP_SECONDS,
                "sample_rate": SAMPLE_RATE,
            },
            "decode": {"onset_threshold": 0.5},
            "pitch_method": "praat",
            "epoch": 0,
            "config": {"data": {"corpus": corpus}},
        },
        path,
    )
    return path


@pytest.mark.slow
def test_cli_on_tiny_corpus_test_split_and_wav_dir(run_cli, random_checkpoint, cache_dir, tmp_path):
    out = tmp_path / "eval"
    proc = run_cli(
        ["-m", "gru_attn.evaluate", "--ckpt", str(random_checkpoint), "--out", str(out), "--save-notes"], check=True
    )
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
    proc = run_cli(
        [
            "-m",
            "gru_attn.evaluate",
            "--ckpt",
            str(random_checkpoint),
            "--wav-dir",
            str(wav_dir),
            "--notes-dir",
            str(notes_dir),
            "--out",
            str(tmp_path / "eval_wav"),
        ],
        check=True,
    )
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


# --------------------------------------------------------------------------- --est-dir and conditions


def labelled_folder(root, conditions=(("s1", "clean"), ("s2", "clean"), ("s3", "noisy"))):
    """``root/notes/<song>.csv`` reference notes and ``root/clips.csv`` (name,cond,...) for ``conditions``."""
    rng = np.random.default_rng(1)
    refs = {}
    for name, _ in conditions:
        onsets = 0.2 + np.cumsum(rng.uniform(0.3, 0.5, 6))
        refs[name] = NoteList(onsets, onsets + 0.25, rng.integers(55, 70, 6))
        write_notes(refs[name], root / "notes" / f"{name}.csv")
    (root / "clips.csv").write_text("name,cond,tempo\n" + "".join(f"{n},{c},100\n" for n, c in conditions))
    return refs


def mir_eval_f1(ref: NoteList, est: NoteList, **kw) -> float:
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref.intervals, ref.hz, est.intervals, est.hz, onset_tolerance=0.05, pitch_tolerance=50.0, **kw
    )[2]


def test_est_dir_scores_any_note_files_per_condition(tmp_path, capsys):
    refs = labelled_folder(tmp_path / "set")
    est = tmp_path / "est"
    write_notes(refs["s1"], est / "s1.csv")
    # s2 as a polyphonic MIDI file: the right notes plus an overlapping octave on two of them
    extra = NoteList(refs["s2"].onsets[:2] + 0.01, refs["s2"].offsets[:2], refs["s2"].midi[:2] + 12)
    poly = NoteList.from_rows(np.concatenate([refs["s2"].to_rows(), extra.to_rows()]))
    write_notes(poly, est / "s2.mid", overlaps=True)
    write_notes(refs["s3"].shift(1.0), est / "s3.txt")  # a semitone off: onsets right, pitch wrong
    out = tmp_path / "eval"

    assert (
        evaluate.main(["--est-dir", str(est), "--notes-dir", str(tmp_path / "set" / "notes"), "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "mean per condition" in printed and "clips.csv" in printed
    report = json.loads((out / "metrics.json").read_text())
    assert report["checkpoint"] is None and report["conditions_file"].endswith("clips.csv")
    f2 = mir_eval_f1(refs["s2"], poly, offset_ratio=None)
    assert 0.5 < f2 < 1.0  # the octave notes cost precision only
    assert report["per_song"]["s2"]["COnP_f1"] == pytest.approx(f2)
    assert report["per_song"]["s2"]["est_notes"] == len(refs["s2"]) + 2
    by_cond = report["conditions"]
    assert list(by_cond) == ["clean", "noisy", "all"]
    assert by_cond["clean"]["songs"] == 2 and by_cond["clean"]["COnP_f1"] == pytest.approx((1.0 + f2) / 2)
    assert by_cond["noisy"]["COnP_f1"] == pytest.approx(0.0) and by_cond["noisy"]["COn_f1"] == pytest.approx(1.0)
    assert by_cond["all"]["songs"] == 3 and by_cond["all"]["COnP_f1"] == pytest.approx((1.0 + f2) / 3)
    assert report["mean"]["COnP_f1"] == pytest.approx(by_cond["all"]["COnP_f1"])
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [(r["song"], r["condition"]) for r in rows] == [
        ("s1", "clean"),
        ("s2", "clean"),
        ("s3", "noisy"),
        ("mean", "clean"),
        ("mean", "noisy"),
        ("mean", "all"),
    ]
    assert float(rows[3]["COnP_f1"]) == pytest.approx(by_cond["clean"]["COnP_f1"], abs=1e-6)
    assert int(rows[3]["ref_notes"]) == 12 and rows[3]["frames"] == "" and rows[0]["voiced_acc"] == ""

    # --conditions none: the overall mean only
    assert (
        evaluate.main(
            [
                "--est-dir",
                str(est),
                "--notes-dir",
                str(tmp_path / "set" / "notes"),
                "--conditions",
                "none",
                "--out",
                str(tmp_path / "plain"),
            ]
        )
        == 0
    )
    assert "mean per condition" not in capsys.readouterr().out
    report = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert "conditions" not in report and report["songs"] == 3
    assert [r["song"] for r in csv.DictReader((tmp_path / "plain" / "metrics.csv").open())] == [
        "s1",
        "s2",
        "s3",
        "mean",
    ]

    # a table naming some songs scores those only (the other estimates are not looked at)
    table = tmp_path / "two.csv"
    table.write_text("cond,name\nb,s3\na,s1\n")
    assert (
        evaluate.main(
            [
                "--est-dir",
                str(est),
                "--notes-dir",
                str(tmp_path / "set" / "notes"),
                "--conditions",
                str(table),
                "--out",
                str(tmp_path / "two"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert sorted(report["per_song"]) == ["s1", "s3"] and list(report["conditions"]) == ["b", "a", "all"]
    assert report["conditions"]["a"]["COnPOff_f1"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing estimate", "no estimated notes for song 's3'"),
        ("estimate without reference", "no reference notes for song 's4'"),
        ("with --ckpt", "--est-dir and --ckpt"),
        ("no --notes-dir", "--est-dir needs --notes-dir"),
        ("no --ckpt", "--ckpt: required"),
        ("bad table", "columns name and cond"),
        ("table lists a song twice", "listed twice"),
        ("empty table", "no rows"),
        ("missing est dir", "notes folder not found"),
    ],
)
def test_est_dir_errors(tmp_path, capsys, monkeypatch, case, message):
    refs = labelled_folder(tmp_path / "set")
    est = tmp_path / "est"
    for name, notes in refs.items():
        write_notes(notes, est / f"{name}.csv")
    notes_dir = str(tmp_path / "set" / "notes")
    argv = ["--est-dir", str(est), "--notes-dir", notes_dir, "--out", str(tmp_path / "eval")]
    if case == "missing estimate":
        (est / "s3.csv").unlink()
    elif case == "estimate without reference":
        write_notes(refs["s1"], est / "s4.csv")
        argv += ["--conditions", "none"]
    elif case == "with --ckpt":
        argv += ["--ckpt", str(tmp_path / "x.pt")]
    elif case == "no --notes-dir":
        argv = ["--est-dir", str(est)]
    elif case == "no --ckpt":  # and no packaged model to fall back on
        monkeypatch.setattr(checkpoint, "PACKAGED_MODEL", tmp_path / "weights" / "default.pt")
        argv = ["--wav-dir", str(tmp_path), "--notes-dir", notes_dir]
    elif case == "bad table":
        (tmp_path / "t.csv").write_text("song,condition\ns1,a\n")
        argv += ["--conditions", str(tmp_path / "t.csv")]
    elif case == "table lists a song twice":
        (tmp_path / "t.csv").write_text("name,cond\ns1,a\ns1,b\n")
        argv += ["--conditions", str(tmp_path / "t.csv")]
    elif case == "empty table":
        (tmp_path / "t.csv").write_text("name,cond\n")
        argv += ["--conditions", str(tmp_path / "t.csv")]
    elif case == "missing est dir":
        argv[1] = str(tmp_path / "nowhere")
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_condition_means_needs_every_song():
    per_song = {"a": {k: 1.0 for k in NOTE_METRIC_KEYS}, "b": {k: 0.0 for k in NOTE_METRIC_KEYS}}
    means = evaluate.condition_means(per_song, {"b": "y", "a": "x", "c": "x"})
    assert list(means) == ["y", "x", "all"] and means["x"]["songs"] == 1 and means["all"]["COnP_f1"] == 0.5
    with pytest.raises(InputError, match="no row for song 'b'"):
        evaluate.condition_means(per_song, {"a": "x"}, source="clips.csv")


@pytest.mark.slow
def test_checkpoint_on_wav_dir_with_clips_table(random_checkpoint, tmp_path, capsys):
    """--ckpt --wav-dir: clips.csv beside the folders is picked up; frame counts add up per condition."""
    from gru_attn.sonify import render_notes, write_wav

    refs = labelled_folder(tmp_path / "set", (("t1", "soft"), ("t2", "loud"), ("t3", "soft")))
    for name, notes in refs.items():
        write_wav(render_notes(notes, 3.2), tmp_path / "set" / "wav" / f"{name}.wav")
    out = tmp_path / "eval"
    assert (
        evaluate.main(
            [
                "--ckpt",
                str(random_checkpoint),
                "--wav-dir",
                str(tmp_path / "set" / "wav"),
                "--notes-dir",
                str(tmp_path / "set" / "notes"),
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    assert report["checkpoint"] == str(random_checkpoint)
    assert {k: v["songs"] for k, v in report["conditions"].items()} == {"soft": 2, "loud": 1, "all": 3}
    assert report["per_song"]["t3"]["condition"] == "soft"
    soft = np.mean([report["per_song"][s]["COnPOff_f1"] for s in ("t1", "t3")])
    assert report["conditions"]["soft"]["COnPOff_f1"] == pytest.approx(soft)
    rows = {(r["song"], r["condition"]): r for r in csv.DictReader((out / "metrics.csv").open())}
    frames = {s: report["per_song"][s]["frames"] for s in ("t1", "t2", "t3")}
    assert int(rows[("mean", "soft")]["frames"]) == frames["t1"] + frames["t3"] > 0
    assert int(rows[("mean", "all")]["frames"]) == sum(frames.values())
    assert float(rows[("mean", "all")]["voiced_acc"]) == pytest.approx(report["mean"]["voiced_acc"], abs=1e-6)
