"""Device helpers: mixed-precision choice per device, bf16 training on CPU, songs side by side."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from gru_attn import devices, engine
from gru_attn.decode import DecodeParams
from gru_attn.devices import autocast_dtype, cpu_has_native_bf16, parallel_songs, transcribed_in_turn
from gru_attn.errors import InputError
from gru_attn.loss import Sdt6Loss
from gru_attn.model import NoteSegmenter
from gru_attn.notes import NoteList


def test_cpu_bf16_flag_is_read_from_cpuinfo(tmp_path):
    with_bf16 = tmp_path / "zen4"
    with_bf16.write_text(
        "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n\n"
        "processor\t: 1\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
    )
    without = tmp_path / "laptop"
    without.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma avx512_bf16_not_a_flag\n")
    assert cpu_has_native_bf16(str(with_bf16))
    assert not cpu_has_native_bf16(str(without))
    assert not cpu_has_native_bf16(str(tmp_path / "missing"))


def test_autocast_dtype_per_device(monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert autocast_dtype(torch.device("cpu"), True) == torch.bfloat16
    assert autocast_dtype(torch.device("cuda"), True) == torch.float16
    assert autocast_dtype(torch.device("cpu"), False) is None
    assert autocast_dtype(torch.device("cuda"), False) is None
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert autocast_dtype(torch.device("cpu"), True) is None


def _tiny_song(seed=0):
    rng = np.random.default_rng(seed)
    targets = np.zeros((80, 3), dtype=np.uint8)
    targets[10:40, 0], targets[10, 1], targets[40, 2] = 1, 1, 1
    feats = rng.normal(size=(9, 174, 80)).astype(np.float32)
    feats[:, 60, 10:40] += 3.0  # a voiced stretch the model can find
    return type(
        "Song",
        (),
        dict(
            feats=feats,
            targets=targets,
            pitch=np.where(targets[:, 0] == 1, 220.0, 0.0),
            notes=NoteList([0.2], [0.8], [57.0]),
            name="s",
        ),
    )()


def _train(model, settings, out_dir):
    """``engine.fit`` of ``model`` on one tiny song (train = val), minimising val/loss."""
    song, loss = _tiny_song(), Sdt6Loss()
    train = engine.training_set([song], model, loss, batch_size=2, chunk_frames=32, seed=0)
    engine.fit(
        model,
        train,
        engine.ValidationSet([song], DecodeParams()),
        loss,
        lambda p: torch.optim.Adam(p, lr=3e-3),
        None,
        settings,
        engine.RunSpec(out_dir, "val/loss", "minimize"),
    )


def _fit(tmp_path, amp, monkeypatch, native_bf16):
    monkeypatch.setattr(engine, "autocast_dtype", lambda device, on: torch.bfloat16 if on and native_bf16 else None)
    torch.manual_seed(0)
    model = NoteSegmenter(
        hidden_dim=16, num_layers=1, num_heads=2, conv_channels=[4], context=2, pitch_head=True, pitch_features=True
    )
    settings = engine.TrainerSettings(max_epochs=8, device="cpu", amp=amp, early_stopping_patience=None, frame_step=1)
    _train(model, settings, tmp_path)
    return json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.slow
def test_bf16_training_on_cpu_learns_like_float32(tmp_path, monkeypatch):
    bf16 = _fit(tmp_path / "bf16", True, monkeypatch, native_bf16=True)
    fp32 = _fit(tmp_path / "fp32", False, monkeypatch, native_bf16=True)
    assert bf16["summary"]["precision"] == "bfloat16" and fp32["summary"]["precision"] == "float32"
    for run in (bf16, fp32):
        losses = [h["train/loss"] for h in run["history"]]
        assert losses[-1] < 0.7 * losses[0], losses  # it learns
    # same data, same initialisation: the bf16 run follows the float32 one closely
    assert (
        abs(bf16["history"][-1]["train/loss"] - fp32["history"][-1]["train/loss"])
        < 0.1 * fp32["history"][-1]["train/loss"]
    )
    assert _fit(tmp_path / "off", True, monkeypatch, native_bf16=False)["summary"]["precision"] == "float32"


@pytest.mark.slow
def test_frame_step_trains_on_every_other_frame(tmp_path, monkeypatch):
    seen = []
    forward = NoteSegmenter.forward

    def spy(self, chunk, frame_step=1):
        out = forward(self, chunk, frame_step=frame_step)
        seen.append((chunk.shape[-1], frame_step, out.shape[1]))
        return out

    monkeypatch.setattr(NoteSegmenter, "forward", spy)
    monkeypatch.setattr(engine, "autocast_dtype", lambda device, on: None)
    torch.manual_seed(0)
    model = NoteSegmenter(
        hidden_dim=16, num_layers=1, num_heads=2, conv_channels=[4], context=2, pitch_head=True, pitch_features=True
    )
    settings = engine.TrainerSettings(max_epochs=8, device="cpu", early_stopping_patience=None, frame_step=2)
    _train(model, settings, tmp_path)
    steps = [s for s in seen if s[1] == 2]  # training calls (validation classifies every frame)
    assert steps and all(n_out == len(range(0, length - 4, 2)) for length, _, n_out in steps)
    assert {length for length, _, _ in steps} == {36, 35}  # both phases: chunk of 32 + 2 * 2, or from frame 1
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert history[-1]["train/loss"] < 0.7 * history[0]["train/loss"]  # it learns from half the frames


def test_frame_step_is_checked_and_falls_back_to_every_frame(caplog):
    class Plain(torch.nn.Module):
        context = 2

        def forward(self, chunk):
            return chunk.new_zeros(chunk.shape[0], chunk.shape[-1] - 4, 6)

    model = NoteSegmenter(hidden_dim=16, num_layers=1, num_heads=2, conv_channels=[4], context=2)
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(InputError, match="trainer.frame_step=.* must be an integer >= 1"):
            engine.check_frame_step(bad, model)
    assert engine.check_frame_step(4, model) == 4
    with caplog.at_level("WARNING"):
        assert engine.check_frame_step(4, Plain()) == 1
    assert "Plain.forward takes no frame_step argument; training on every frame" in caplog.text


def test_parallel_songs_only_where_the_songs_share_out_evenly():
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert parallel_songs([20, 22, 18, 25], "cpu") == 2
        assert parallel_songs([100, 100], "cpu") == 2
        assert parallel_songs([300, 10], "cpu") == 1  # the long song alone on one core would be the slowest
        assert parallel_songs([40], "cpu") == 1
        assert parallel_songs([20, 22], torch.device("cuda")) == 1
        torch.set_num_threads(4)
        assert parallel_songs([20, 22, 18], "cpu") == 1  # fewer songs than threads: one song on all four
        assert parallel_songs([20, 22, 18, 25, 21], "cpu") == 4
        torch.set_num_threads(1)
        assert parallel_songs([20, 22, 18, 25], "cpu") == 1
    finally:
        torch.set_num_threads(saved)


def test_transcribed_in_turn_keeps_the_jobs_order_and_starts_the_largest_first(monkeypatch):
    started = []

    def run(job):
        started.append(job)
        return job.upper()

    jobs, sizes = ["a", "b", "c", "d"], [1, 9, 3, 7]
    assert list(transcribed_in_turn(run, jobs, sizes, 1)) == ["A", "B", "C", "D"]
    assert started == jobs
    started.clear()
    assert list(transcribed_in_turn(run, jobs, sizes, 2)) == ["A", "B", "C", "D"]
    assert sorted(started) == jobs
    started.clear()  # one worker thread: the start order is the order of submission
    monkeypatch.setattr(devices, "single_thread_workers", lambda n: ThreadPoolExecutor(1))
    assert list(transcribed_in_turn(run, jobs, sizes, 2)) == ["A", "B", "C", "D"]
    assert started == ["b", "d", "c", "a"]
