"""The model shipped with the package (gru_attn/weights/default.pt) and the command that makes it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from gru_attn import checkpoint, evaluate, package_model, transcribe
from gru_attn.checkpoint import PACKAGED_MODEL, load_checkpoint
from gru_attn.inference import load_model
from gru_attn.notes import NoteList, read_notes, write_notes
from gru_attn.sonify import render_notes, write_wav

PROBE = Path(__file__).parent / "fixtures" / "vocano_cfp" / "probe.wav"


def test_shipped_model_is_an_inference_checkpoint_that_passes_the_checks():
    assert PACKAGED_MODEL.is_file(), f"{PACKAGED_MODEL}: the package ships a model (python -m gru_attn.package_model)"
    assert PACKAGED_MODEL.stat().st_size < 8e6  # a few MB: float16 weights, no optimizer state
    state = load_checkpoint(PACKAGED_MODEL)
    assert "optimizer" not in state and "rng" not in state
    assert all(v.dtype == torch.float16 for v in state["model"].values() if torch.is_floating_point(v))
    card = state["card"]
    assert card["scores"] and all("all" in by_cond for by_cond in card["scores"].values())
    model, info = load_model(PACKAGED_MODEL)  # the same checks as any checkpoint
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert info.decode.as_dict()["_target_"] == state["decode"]["_target_"]


def test_transcribe_without_ckpt_uses_the_shipped_model(tmp_path, capsys):
    assert transcribe.main([str(PROBE), "--out", str(tmp_path), "--formats", "csv"]) == 0
    notes = read_notes(tmp_path / "probe.csv")
    assert len(notes) >= 5  # the probe is a sung melody
    assert "probe" in capsys.readouterr().out  # its summary line


def side_by_side(monkeypatch, module, name: str, run) -> dict:
    """``run(threads)`` with 1, then 2 torch threads -> ``{threads: result}``.

    Asserts that ``module.<name>`` (the per-song work) ran on the main thread with 1 thread and
    only on single-threaded workers with 2, and that the thread count is restored afterwards.
    """
    seen = set()
    original = getattr(module, name)

    def spy(*args, **kwargs):
        seen.add((threading.current_thread() is threading.main_thread(), torch.get_num_threads()))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    results = {}
    saved = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            seen.clear()
            results[threads] = run(threads)
            assert seen == ({(True, 1)} if threads == 1 else {(False, 1)})
            assert torch.get_num_threads() == threads  # restored after the workers
    finally:
        torch.set_num_threads(saved)
    return results


def test_folder_songs_in_parallel_match_one_song_at_a_time(tmp_path, capsys, monkeypatch):
    """With two torch threads a folder's songs run side by side, one core each; the outputs, the
    order of the lines and the errors (a corrupt file, a song whose output exists) are those of
    one song at a time."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "c", "d"):
        (folder / f"{name}.wav").write_bytes(PROBE.read_bytes())
    (folder / "b.wav").write_bytes(b"RIFF....not really a wave file" * 20)

    def run(threads):
        out = tmp_path / f"out{threads}"
        out.mkdir()
        (out / "d.csv").write_text("kept\n")
        code = transcribe.main([str(folder), "--out", str(out), "--formats", "csv"])
        printed = capsys.readouterr()
        return code, [line.split(":")[0] for line in printed.out.splitlines()], printed.err, out

    runs = side_by_side(monkeypatch, transcribe, "transcribe_file", run)
    (code1, lines1, err1, out1), (code2, lines2, err2, out2) = runs[1], runs[2]
    assert code1 == code2 == 1
    assert lines1[:-1] == lines2[:-1] == ["a", "c"]  # summary lines in file order
    assert lines1[-1] == f"transcribed 2 of 4 files into {out1}; 2 failed"
    assert lines2[-1] == f"transcribed 2 of 4 files into {out2}; 2 failed"
    assert err1.replace(str(out1), "OUT") == err2.replace(str(out2), "OUT")
    errors = err2.splitlines()
    assert len(errors) == 2 and str(folder / "b.wav") in errors[0] and str(out2 / "d.csv") in errors[1]
    for name in ("a", "c"):
        assert (out1 / f"{name}.csv").read_bytes() == (out2 / f"{name}.csv").read_bytes()
    assert (out2 / "d.csv").read_text() == "kept\n" and not (out2 / "b.csv").exists()


def test_no_ckpt_and_no_shipped_model_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(checkpoint, "PACKAGED_MODEL", tmp_path / "weights" / "default.pt")
    assert transcribe.main([str(PROBE), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --ckpt: required (no packaged model")


def _tiny_devset(root: Path) -> Path:
    """Two rendered-tone clips with their notes and a clips.csv (conditions a, b)."""
    rng = np.random.default_rng(0)
    rows = []
    for name, cond in (("c1", "a"), ("c2", "b")):
        onsets = 0.3 + np.cumsum(rng.uniform(0.35, 0.5, 6))
        ref = NoteList(onsets, onsets + 0.3, rng.integers(57, 69, 6))
        write_notes(ref, root / "notes" / f"{name}.csv")
        write_wav(render_notes(ref, 4.0), root / "wav" / f"{name}.wav")
        rows.append(f"{name},{cond}\n")
    (root / "clips.csv").write_text("name,cond\n" + "".join(rows))
    return root


@pytest.mark.slow
def test_package_model_replaces_only_a_worse_model(trained_run, tmp_path, capsys):
    devset = _tiny_devset(tmp_path / "dev")
    out = tmp_path / "weights" / "default.pt"
    ckpt = trained_run / "checkpoints" / "best.pt"
    args = [str(ckpt), "--devset", str(devset), "--no-crossgen", "--out", str(out)]
    assert package_model.main(args) == 0
    printed = capsys.readouterr().out
    assert "| dev | a | 1 |" in printed and "| dev | all | 2 |" in printed
    state = load_checkpoint(out)
    assert state["card"]["source"] == str(ckpt) and set(state["card"]["scores"]["dev"]) == {"a", "b", "all"}
    json.dumps(state["card"])  # plain data
    model, _ = load_model(out)
    original, _ = load_model(ckpt)
    for (name, a), (_, b) in zip(model.state_dict().items(), original.state_dict().items()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3), name  # float16 storage, float32 model
    # the same model again does not win over itself: the shipped file is kept
    before = out.stat().st_mtime_ns
    assert package_model.main(args) == 1
    assert "does not win" in capsys.readouterr().out and out.stat().st_mtime_ns == before
    assert package_model.main([*args, "--force"]) == 0
    # no development set at all: one error line
    assert (
        package_model.main(
            [str(ckpt), "--devset", str(tmp_path / "none"), "--no-crossgen", "--out", str(tmp_path / "x.pt")]
        )
        == 2
    )
    assert capsys.readouterr().err.startswith("error: ")


def test_evaluate_wav_dir_songs_in_parallel_match_one_song_at_a_time(tmp_path, capsys, monkeypatch):
    """``evaluate --wav-dir`` runs the songs side by side as ``transcribe`` does; the scores, the
    saved notes and the error of a bad song in the set are those of one song at a time."""
    devset = _tiny_devset(tmp_path / "dev")

    def run(threads):
        out = tmp_path / f"out{threads}"
        args = ["--wav-dir", str(devset / "wav"), "--notes-dir", str(devset / "notes"), "--out", str(out)]
        assert evaluate.main([*args, "--save-notes"]) == 0
        capsys.readouterr()
        metrics = json.loads((out / "metrics.json").read_text())
        return metrics["per_song"], metrics["mean"], out

    runs = side_by_side(monkeypatch, evaluate, "transcribe_audio", run)
    (songs1, mean1, out1), (songs2, mean2, out2) = runs[1], runs[2]
    assert list(songs1) == list(songs2) == ["c1", "c2"] and songs1 == songs2 and mean1 == mean2
    for name in ("c1", "c2"):
        assert (out1 / "notes" / f"{name}.csv").read_bytes() == (out2 / "notes" / f"{name}.csv").read_bytes()
    # a corrupt clip in the set: one error line naming it, with either thread count
    (devset / "wav" / "c0.wav").write_bytes(b"RIFF....not really a wave file" * 20)
    write_notes(NoteList([0.5], [0.8], [60]), devset / "notes" / "c0.csv")
    errors = []
    args = ["--wav-dir", str(devset / "wav"), "--notes-dir", str(devset / "notes"), "--out", str(tmp_path / "x")]
    saved = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert evaluate.main(args) == 2
            errors.append(capsys.readouterr().err)
    finally:
        torch.set_num_threads(saved)
    assert errors[0] == errors[1] and errors[0].count("\n") == 1 and str(devset / "wav" / "c0.wav") in errors[0]
