"""Extension axes: a data set, a pitch tracker, a model, a logger and a decoder are each added by one module plus one config.

The module is written outside the repository and made part of the ``gru_attn`` package
(``gru_attn.__path__``), as a file dropped into ``gru_attn/`` would be; the config lives
in a config folder of its own (Hydra's search path for data sets, ``pitch.SEARCH_PATH``
for trackers). Nothing else is edited: the same whitelisted instantiate builds them in
training and in evaluate, and every list of pitch methods now names the new tracker.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import open_dict

import gru_attn
from gru_attn import evaluate, pitch, transcribe
from gru_attn.config import compose
from gru_attn.errors import InputError
from gru_attn.frames import SAMPLE_RATE, num_frames

TOY_CORPUS = '''"""A toy data set: songs of a few held notes, made in memory (features: noise plus a bright row)."""
import numpy as np

from gru_attn.corpus import Song
from gru_attn.labels import notes_to_targets
from gru_attn.notes import NoteList


def load_toy(n_songs, frames, seed=0, splits=("train", "val")):
    corpus = {}
    for s, split in enumerate(splits):
        songs = []
        for i in range(n_songs):
            rng = np.random.default_rng([seed, s, i])
            feats = rng.normal(size=(9, 174, frames)).astype(np.float32)
            onsets = np.array([0.2, 0.9, 1.6])[: max(1, frames // 40)]
            notes = NoteList(onsets, onsets + 0.5, np.full(len(onsets), 57.0))
            targets = notes_to_targets(notes.onsets, notes.offsets, frames)
            feats[:, 60, targets[:, 0] == 1] += 3.0
            pitch = np.where(targets[:, 0] == 1, 220.0, 0.0)
            songs.append(Song(f"toy_{split}_{i}", feats, pitch, targets, notes, "notes"))
        corpus[split] = songs
    return corpus
'''
TOY_DATA_CONFIG = """corpus:
  _target_: gru_attn.toy_corpus.load_toy
  n_songs: 2
  frames: 120
batch_size: 2
chunk_frames: 32
"""
TOY_TRACKER = '''"""A toy pitch tracker: twice the floor of its search range, everywhere (a 10 ms step)."""
import numpy as np


def twice_the_floor(x, f0_floor, f0_ceil):
    times = np.arange(0.0, len(x) / 16000 + 0.01, 0.01)
    return times, np.full(len(times), 2.0 * f0_floor)
'''
TOY_TRACKER_CONFIG = "_target_: gru_attn.toy_tracker.twice_the_floor\nf0_floor: 110.0\nf0_ceil: 880.0\n"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """``plugin(name, source)``: module ``gru_attn.<name>`` from a file outside the repository."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.setattr(gru_attn, "__path__", [*gru_attn.__path__, str(folder)])
    added = []

    def add(name: str, source: str) -> None:
        (folder / f"{name}.py").write_text(source)
        added.append(f"gru_attn.{name}")

    yield add
    for module in added:
        sys.modules.pop(module, None)


@pytest.mark.slow
def test_a_data_set_is_one_module_and_one_config(plugin, tmp_path):
    plugin("toy_corpus", TOY_CORPUS)
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "data" / "toy.yaml").write_text(TOY_DATA_CONFIG)
    out = tmp_path / "run"
    cfg = compose(
        [
            f"hydra.searchpath=[file://{conf}]",
            "data=toy",
            "model=simplified",
            "trainer=debug",
            "trainer.max_epochs=1",
            "trainer.device=cpu",
            "logger=none",
            f"paths.output_dir={out}",
        ]
    )
    with open_dict(cfg):
        del cfg["hydra"]  # train() outside a Hydra run
    from gru_attn.train import train

    threads = torch.get_num_threads()
    train(cfg)
    assert torch.get_num_threads() == threads  # trainer.threads is null: global state untouched
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["status"] == "completed" and summary["epochs"] == 1
    ckpt = out / "checkpoints" / "final.pt"
    assert torch.load(ckpt, weights_only=True)["config"]["data"]["corpus"]["_target_"] == "gru_attn.toy_corpus.load_toy"

    # evaluate builds the checkpoint's corpus through the same instantiate: no list to extend
    assert (
        evaluate.main(["--ckpt", str(ckpt), "--split", "val", "--out", str(tmp_path / "eval"), "--device", "cpu"]) == 0
    )
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(result["per_song"]) == {"toy_val_0", "toy_val_1"}
    assert all(row["ref_notes"] == 3 for row in result["per_song"].values())


def test_evaluate_refuses_a_corpus_target_outside_the_package(tmp_path):
    info = type(
        "Info",
        (),
        {"path": tmp_path / "x.pt", "config": {"data": {"corpus": {"_target_": "os.system", "command": "true"}}}},
    )()
    with pytest.raises(InputError, match="not allowed"):
        evaluate.corpus_from_config(info, "test")
    info.config = {"data": {}}
    with pytest.raises(InputError, match="names no corpus"):
        evaluate.corpus_from_config(info, "test")


def test_a_pitch_tracker_is_one_module_and_one_config(plugin, tmp_path, monkeypatch):
    plugin("toy_tracker", TOY_TRACKER)
    (tmp_path / "pitch").mkdir()
    (tmp_path / "pitch" / "toy.yaml").write_text(TOY_TRACKER_CONFIG)
    assert "toy" not in pitch.pitch_methods()
    monkeypatch.setattr(pitch, "SEARCH_PATH", [*pitch.SEARCH_PATH, tmp_path / "pitch"])
    assert pitch.tracker_names() == ("harvest", "praat", "toy", "world")
    assert pitch.pitch_methods()[-1] == "model"

    audio = np.zeros(SAMPLE_RATE, np.float32)
    contour = pitch.track_pitch(audio, "toy")
    assert contour.shape == (num_frames(len(audio)),) and np.allclose(contour, 220.0)  # the config's f0_floor
    assert np.allclose(pitch.track_pitch(audio, "toy", f0_floor=100.0), 200.0)
    with pytest.raises(InputError, match="harvest, praat, toy, world"):
        pitch.track_pitch(audio, "nope")

    # the options of the entry points take it, and validation tracks the corpus's audio with it
    assert evaluate.parse_args(["--ckpt", "c.pt", "--pitch-method", "toy"]).pitch_method == "toy"
    assert transcribe.parse_args(["a.wav", "--ckpt", "c.pt", "--pitch-method", "toy"]).pitch_method == "toy"
    from gru_attn.tracked_pitch import validation_pitch

    (tmp_path / "wav").mkdir()
    sf.write(tmp_path / "wav" / "s.wav", audio, SAMPLE_RATE)
    song = type("Song", (), {"name": "s", "n_frames": 60, "pitch": np.zeros(60)})()
    tracked = validation_pitch("toy", tmp_path / "wav")(song)
    assert tracked.shape == (60,) and np.allclose(tracked[:49], 220.0) and (tracked[49:] == 0).all()
    assert (tmp_path / "pitch_toy" / "s_pitch.npy").is_file()  # cached beside the audio


def test_a_tracker_config_without_its_range_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text("_target_: gru_attn.pitch.praat\n")
    monkeypatch.setattr(pitch, "SEARCH_PATH", [tmp_path])
    with pytest.raises(InputError, match="bad.yaml: a tracker config needs _target_, f0_floor and f0_ceil"):
        pitch.track_pitch(np.zeros(4000, np.float32), "bad")


TOY_MODEL = '''"""A toy model: one linear map of each frame's mean over the CFP bins (no context)."""
import torch


class MeanFrame(torch.nn.Module):
    context = 0

    def __init__(self, n_channels=9, n_bins=174, scale=1.0):
        super().__init__()
        self.n_channels, self.n_bins = n_channels, n_bins
        self.linear = torch.nn.Linear(n_channels, 6)
        self.scale = float(scale)

    def forward(self, x):  # (B, C, F, L) -> (B, L, 6)
        return self.scale * self.linear(x.mean(dim=2).transpose(1, 2))
'''
TOY_MODEL_CONFIG = "_target_: gru_attn.toy_model.MeanFrame\nscale: 2.0\n"
TOY_LOGGER = '''"""A toy logger: one line of JSON per call in a file."""
import json


class JsonLines:
    def __init__(self, path):
        self.path = path

    def _write(self, kind, **data):
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"call": kind, **data}, default=str) + "\\n")

    def log_step(self, step, metrics):
        self._write("step", step=step)

    def log_epoch(self, epoch, metrics, lr):
        self._write("epoch", epoch=epoch, loss=metrics.get("val/loss"))

    def log_hparams(self, params, final_metrics):
        self._write("hparams", n=len(params))

    def log_figure(self, name, path):
        self._write("figure", name=name)

    def close(self, status):
        self._write("close", status=status)
'''
TOY_LOGGER_CONFIG = "_target_: gru_attn.toy_logger.JsonLines\npath: ${paths.output_dir}/toy_log.jsonl\n"
TOY_DECODER = '''"""A toy decoder: one note per voiced run of at least min_frames frames, at its median pitch."""
import numpy as np

from gru_attn.frames import frame_to_time
from gru_attn.notes import NoteList, hz_to_midi


class VoicedRuns:
    def __init__(self, min_frames=2):
        self.min_frames = int(min_frames)

    def __call__(self, probs, pitch_hz, fallback_hz=None, pitch_dist=None, pitch_voicing=None):
        voiced = np.r_[False, np.asarray(probs)[:, 0] >= 0.5, False].astype(np.int8)
        starts, stops = np.flatnonzero(np.diff(voiced) == 1), np.flatnonzero(np.diff(voiced) == -1)
        runs = [(a, e) for a, e in zip(starts, stops) if e - a >= self.min_frames]
        midi = hz_to_midi(fallback_hz if fallback_hz is not None else pitch_hz)
        pitch = [np.nanmedian(midi[a:e]) if np.isfinite(midi[a:e]).any() else 60.0 for a, e in runs]
        if not runs:
            return NoteList.empty()
        a, e = np.array(runs).T
        return NoteList(frame_to_time(a), frame_to_time(e), np.array(pitch))

    def as_dict(self):
        return {"_target_": "gru_attn.toy_decoder.VoicedRuns", "min_frames": self.min_frames}
'''
TOY_DECODER_CONFIG = "_target_: gru_attn.toy_decoder.VoicedRuns\nmin_frames: 3\n"


@pytest.mark.slow
def test_a_model_a_logger_and_a_decoder_are_one_module_and_one_config_each(plugin, tmp_path):
    """Three toy members of three axes, each a module dropped into the package plus one config of
    its group: training uses all three, the checkpoint records them, transcribe decodes with it."""
    conf = tmp_path / "conf"
    for name, source, group, config in (
        ("toy_model", TOY_MODEL, "model", TOY_MODEL_CONFIG),
        ("toy_logger", TOY_LOGGER, "logger", TOY_LOGGER_CONFIG),
        ("toy_decoder", TOY_DECODER, "decode", TOY_DECODER_CONFIG),
    ):
        plugin(name, source)
        (conf / group).mkdir(parents=True)
        (conf / group / "toy.yaml").write_text(config)
    out = tmp_path / "run"
    cfg = compose(
        [
            f"hydra.searchpath=[file://{conf}]",
            "experiment=fast_test",
            "model=toy",
            "logger=toy",
            "decode=toy",
            "inference.pitch_method=praat",
            "trainer.max_epochs=1",
            "trainer.frame_step=1",
            "trainer.device=cpu",
            f"paths.output_dir={out}",
        ]
    )
    with open_dict(cfg):
        del cfg["hydra"]  # train() outside a Hydra run
    from gru_attn.train import train

    train(cfg)
    calls = [json.loads(line)["call"] for line in (out / "toy_log.jsonl").read_text().splitlines()]
    assert calls[0] == "step" and "epoch" in calls and calls[-2:] == ["hparams", "close"]
    state = torch.load(out / "checkpoints" / "final.pt", weights_only=True)
    assert state["model_config"]["_target_"] == "gru_attn.toy_model.MeanFrame" and state["model_config"]["scale"] == 2.0
    assert state["decode"] == {"_target_": "gru_attn.toy_decoder.VoicedRuns", "min_frames": 3}
    # transcribe rebuilds the toy model and decodes with the toy decoder, from the checkpoint alone
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(2 * np.pi * 220 * t), SAMPLE_RATE, subtype="PCM_16")
    assert (
        transcribe.main(
            [
                str(tmp_path / "a.wav"),
                "--ckpt",
                str(out / "checkpoints" / "final.pt"),
                "--out",
                str(tmp_path / "notes"),
                "--formats",
                "csv",
            ]
        )
        == 0
    )
    assert (tmp_path / "notes" / "a.csv").is_file()
