"""bench_train: the float32 frame-step cases run, in their own process, and the ``-modules`` arm
really trains through the conv modules (the layout compared against)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["shared-step4", "shared-step4-modules"])
def test_frame_step_cases_report_figures(pipeline):
    args = ["--steps", "1", "--warmup", "0", "--threads", "1", "--shared-seconds", "8"]
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args, "--case", f"{pipeline},simplified,256"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["pipeline"] == pipeline and result["windows_per_step"] == 256
    assert result["windows_per_s"] > 0 and result["peak_rss_mb"] > 0


def test_modules_arm_calls_the_conv_modules(monkeypatch):
    """The ``-modules`` arm's switch sends a training step through the Conv1d modules."""
    import torch

    import gru_attn.model
    from gru_attn.model import NoteSegmenter

    model = NoteSegmenter(n_channels=3, n_bins=24, hidden_dim=16, num_heads=2, conv_channels=(4, 8), context=2)
    calls = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv1d):
            m.register_forward_hook(lambda *a: calls.append(1))
    model.train()(torch.randn(1, 3, 24, 9)).sum().backward()
    assert not calls  # channels-last by default
    monkeypatch.setattr(gru_attn.model, "cpu_training", lambda x: False)  # what bench_train does
    model(torch.randn(1, 3, 24, 9)).sum().backward()
    assert len(calls) == len(model.encoder.conv) // 4
