"""Any model end to end: a second architecture, added by a config alone, goes through
train -> transcribe -> evaluate -> compare; targets outside the package are refused."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from gru_attn.contract import build_from_config, check_model
from gru_attn.errors import InputError
from gru_attn.frame_conv import FrameConv
from gru_attn.frames import SAMPLE_RATE
from gru_attn.model import NoteSegmenter

pytestmark = pytest.mark.slow

TINY_CONV = "_target_: gru_attn.frame_conv.FrameConv\nhidden_dim: 8\ncontext: 2\n"


def sung_scale(seconds: float = 3.0) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """A harmonic tone stepping through 6 notes with short gaps; returns audio and (onset, offset, midi)."""
    notes, t = [], np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = np.zeros_like(t)
    step = seconds / 6
    for i, midi in enumerate([60, 62, 64, 65, 67, 69]):
        onset, offset = i * step + 0.05, (i + 1) * step - 0.05
        hz = 440.0 * 2 ** ((midi - 69) / 12)
        on = (t >= onset) & (t < offset)
        audio[on] += sum(0.3 / h * np.sin(2 * np.pi * h * hz * t[on]) for h in (1, 2, 3))
        notes.append((onset, offset, float(midi)))
    return audio.astype(np.float32), notes


def test_second_architecture_train_transcribe_evaluate_compare(run_cli, tmp_path):
    conf = tmp_path / "conf"
    (conf / "model").mkdir(parents=True)
    (conf / "model" / "tiny_conv.yaml").write_text(TINY_CONV)
    sweep = tmp_path / "sweep"
    run_cli(
        [
            "-m",
            "gru_attn.train",
            "--multirun",
            f"hydra.sweep.dir={sweep}",
            f"hydra.searchpath=[file://{conf}]",
            "experiment=fast_test",
            "model=tiny_conv",
            "inference.pitch_method=praat",
            "trainer.max_epochs=1",
            "trainer.threads=1",
        ],
        check=True,
    )
    run = sweep / "0"
    assert json.loads((run / "metrics.json").read_text())["summary"]["status"] == "completed"
    ckpt = run / "checkpoints" / "final.pt"
    state = torch.load(ckpt, weights_only=True)
    assert state["model_config"]["_target_"] == "gru_attn.frame_conv.FrameConv"
    assert state["feature_layout"]["context"] == 2

    audio, notes = sung_scale()
    wavs, refs = tmp_path / "wav", tmp_path / "notes"
    wavs.mkdir()
    refs.mkdir()
    sf.write(wavs / "scale.wav", audio, SAMPLE_RATE)
    with open(refs / "scale.csv", "w", newline="") as f:
        csv.writer(f).writerows([("onset", "offset", "midi"), *notes])
    out = tmp_path / "transcribed"
    run_cli(
        [
            "-m",
            "gru_attn.transcribe",
            str(wavs / "scale.wav"),
            "--ckpt",
            str(ckpt),
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
        check=True,
    )
    assert (out / "scale.csv").is_file()

    run_cli(
        [
            "-m",
            "gru_attn.evaluate",
            "--ckpt",
            str(ckpt),
            "--wav-dir",
            str(wavs),
            "--notes-dir",
            str(refs),
            "--out",
            str(tmp_path / "eval"),
            "--device",
            "cpu",
        ],
        check=True,
    )
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(result["per_song"]) == {"scale"}

    proc = run_cli(["-m", "gru_attn.compare", str(sweep)], check=True)
    assert "completed" in proc.stdout and (sweep / "results.csv").is_file()


def test_target_outside_the_package_is_refused_by_training(run_cli, tmp_path):
    proc = run_cli(
        [
            "-m",
            "gru_attn.train",
            "experiment=fast_test",
            "model._target_=torch.nn.Identity",
            f"hydra.run.dir={tmp_path}",
        ]
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "torch.nn.Identity" in line and "refused" in line


def test_checkpoint_target_outside_the_package_is_refused(tmp_path):
    marker = tmp_path / "imported"
    with pytest.raises(InputError, match="refused"):
        build_from_config({"_target_": "os.system", "command": f"touch {marker}"}, "x.pt")
    with pytest.raises(InputError, match="refused"):
        build_from_config({"_target_": "gru_attnx.evil.Model"}, "x.pt")
    with pytest.raises(InputError, match="not a torch.nn.Module class"):
        build_from_config({"_target_": "gru_attn.errors.InputError"}, "x.pt")
    assert not marker.exists() and "gru_attnx" not in sys.modules


def test_old_checkpoints_without_target_build_the_default_model():
    model = build_from_config(
        {
            "n_channels": 9,
            "n_bins": 174,
            "hidden_dim": 16,
            "num_heads": 2,
            "num_layers": 1,
            "conv_channels": [4],
            "context": 1,
        },
        "old.pt",
    )
    assert isinstance(model, NoteSegmenter)


def test_contract_checks_forward_shape_and_attributes():
    check_model(FrameConv(9, 20, hidden_dim=4, context=3), "ok")

    class NoContext(torch.nn.Module):
        n_channels, n_bins = 9, 20

        def forward(self, x):
            return x

    with pytest.raises(InputError, match="context"):
        check_model(NoContext(), "m")

    class WrongShape(FrameConv):
        def forward(self, chunk):
            return super().forward(chunk)[..., :5]

    with pytest.raises(InputError, match=r"\(1, 2, 6\)"):
        check_model(WrongShape(9, 20, hidden_dim=4, context=1), "m")
