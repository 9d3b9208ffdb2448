"""The model shipped with the package (gru_attn/weights/default.pt) and the command that makes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gru_attn import checkpoint, package_model, transcribe
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
