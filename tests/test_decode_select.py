"""Decoder selection: conf/decode configs, checkpoints (old and new), validation, transcribe, decode_study."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from gru_attn.checkpoint import load_checkpoint, save_checkpoint
from gru_attn.config import CONF_DIR, compose
from gru_attn.decode import DecodeParams, build_decoder, decoder_choices, load_decoder
from gru_attn.errors import InputError
from gru_attn.frames import HOP_SECONDS, SAMPLE_RATE
from gru_attn.segments import SegmentDecoder
from gru_attn.tracked_pitch import HeadPitch

CONFIG = dict(
    n_channels=9,
    n_bins=174,
    hidden_dim=16,
    num_layers=1,
    num_heads=2,
    conv_channels=[4],
    dropout=0.0,
    context=2,
    pitch_head=True,
)
LAYOUT = dict(n_channels=9, n_bins=174, context=2, hop_seconds=HOP_SECONDS, sample_rate=SAMPLE_RATE)


def state(decode) -> dict:
    from gru_attn.model import NoteSegmenter

    torch.manual_seed(0)
    model = NoteSegmenter(**CONFIG)
    return {
        "model": model.state_dict(),
        "model_config": dict(CONFIG),
        "feature_layout": dict(LAYOUT),
        "decode": decode,
        "pitch_method": "model",
    }


@pytest.mark.parametrize("name", decoder_choices())
def test_every_decode_config_builds_and_lists_every_setting(name):
    config = dict(compose([f"decode={name}"]).decode)
    decoder = build_decoder(config)
    assert decoder.as_dict() == config  # every setting is in the file, nothing else
    assert load_decoder(name) == decoder


def test_decode_group_offers_both_decoders_and_the_default_is_in_train_yaml():
    assert {"peaks", "segments"} <= set(decoder_choices())
    assert isinstance(build_decoder(compose(["decode=peaks"]).decode), DecodeParams)
    assert isinstance(build_decoder(compose(["decode=segments"]).decode), SegmentDecoder)
    assert isinstance(build_decoder(compose(["decode=peaks", "decode.onset_threshold=0.3"]).decode), DecodeParams)
    assert build_decoder(compose(["decode=segments", "decode.note_cost=2.5"]).decode).note_cost == 2.5


def test_peaks_fields_match_its_config():
    assert [k for k in compose(["decode=peaks"]).decode if k != "_target_"] == [f.name for f in fields(DecodeParams)]


def test_old_checkpoints_load_with_the_peak_decoder(tmp_path):
    from gru_attn.inference import load_model

    old = save_checkpoint(state({"onset_threshold": 0.4, "split_semitones": 0.75}), tmp_path / "old.pt")
    _, info = load_model(old)
    assert info.decode == DecodeParams(onset_threshold=0.4, split_semitones=0.75)
    none = save_checkpoint({k: v for k, v in state({}).items() if k != "decode"}, tmp_path / "none.pt")
    assert load_model(none)[1].decode == DecodeParams()
    new = save_checkpoint(state(SegmentDecoder(note_cost=2.0).as_dict()), tmp_path / "new.pt")
    assert load_model(new)[1].decode == SegmentDecoder(note_cost=2.0)


@pytest.mark.parametrize(
    "decode,match",
    [
        ({"_target_": "os.system"}, "refused"),
        ({"_target_": "gru_attn.segments.Nothing"}, "not a decoder"),
        ({"_target_": "gru_attn.segments.SegmentDecoder", "note_cost": -1}, "note_cost"),
        ({"onset_thresh": 0.5}, "unusable"),
    ],
)
def test_bad_decoder_in_a_checkpoint_is_one_error_naming_the_file(tmp_path, decode, match):
    from gru_attn.inference import load_model

    path = save_checkpoint(state(decode), tmp_path / "bad.pt")
    with pytest.raises(InputError, match=match) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_validation_decodes_with_the_configured_decoder():
    """validate() takes a decoder or its config; a decoder that finds no notes scores 0."""
    from gru_attn import engine
    from gru_attn.loss import Sdt6Loss
    from gru_attn.model import NoteSegmenter
    from gru_attn.notes import NoteList

    rng = np.random.default_rng(0)
    targets = np.zeros((80, 3), dtype=np.uint8)
    targets[10:60, 0], targets[10, 1], targets[60, 2] = 1, 1, 1
    song = type(
        "Song",
        (),
        dict(
            feats=rng.normal(size=(9, 174, 80)).astype(np.float32),
            targets=targets,
            pitch=np.where(targets[:, 0] == 1, 220.0, 0.0),
            notes=NoteList([0.2], [1.2], [57.0]),
            name="s",
        ),
    )()
    torch.manual_seed(0)
    model = NoteSegmenter(**{k: v for k, v in CONFIG.items() if k not in ("n_channels", "n_bins")})
    calls = []

    class Spy(SegmentDecoder):
        def __call__(self, probs, pitch_hz, **kw):
            calls.append(sorted(kw))
            return super().__call__(probs, pitch_hz, **kw)

    out = engine.validate(model, [song], Sdt6Loss(), Spy(), "cpu", pitch=HeadPitch())
    assert calls and calls[0] == ["fallback_hz", "pitch_dist", "pitch_voicing"]  # the head's outputs reach it
    # the audio level, when validation has one (data side: gru_attn.tracked_pitch.validation_level)
    calls.clear()
    engine.validate(model, [song], Sdt6Loss(), Spy(), "cpu", pitch=HeadPitch(), level=lambda s: np.zeros(80))
    assert calls[0] == ["fallback_hz", "level_db", "pitch_dist", "pitch_voicing"]
    assert 0.0 <= out["val/COnP_f1"] <= 1.0
    # a config (dict with _target_) works too; a note cost nothing can pay finds no note
    silent = engine.validate(
        model, [song], Sdt6Loss(), {**SegmentDecoder(note_cost=1e6).as_dict()}, "cpu", pitch=HeadPitch()
    )
    assert silent["val/COn_f1"] == 0.0


def test_validation_level_reads_the_corpus_audio_only_for_a_decoder_that_uses_it(tmp_path):
    from gru_attn.tracked_pitch import ValidationLevel, validation_level

    _tone(tmp_path / "s.wav")
    song = type("Song", (), {"name": "s", "n_frames": 99})()
    assert validation_level(SegmentDecoder(), tmp_path) is None  # the term is off: no audio read
    assert validation_level(DecodeParams(), tmp_path) is None
    assert validation_level(SegmentDecoder(repeat_level_weight=10.0), None) is None  # no audio known
    level = validation_level(SegmentDecoder(repeat_level_weight=10.0), tmp_path)
    assert isinstance(level, ValidationLevel)
    curve = level(song)
    assert curve.shape == (99,) and curve[14] > -20.0 and curve[42] == pytest.approx(-100.0)
    assert level(type("Song", (), {"name": "nofile", "n_frames": 5})()) is None


def _tone(path: Path, seconds=2.0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 5)) * (t % 1.0 < 0.7)
    sf.write(path, (0.3 * x).astype(np.float32), SAMPLE_RATE)


@pytest.mark.slow
def test_transcribe_and_evaluate_take_a_decoder_option(run_cli, tmp_path):
    ckpt = save_checkpoint(state(SegmentDecoder().as_dict()), tmp_path / "m.pt")
    _tone(tmp_path / "a.wav")
    proc = run_cli(
        [
            "-m",
            "gru_attn.transcribe",
            str(tmp_path / "a.wav"),
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "out"),
            "--formats",
            "csv",
            "--decode",
            "peaks",
        ],
        check=True,
    )
    assert (tmp_path / "out" / "a.csv").is_file(), proc.stdout
    bad = run_cli(
        [
            "-m",
            "gru_attn.transcribe",
            str(tmp_path / "a.wav"),
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "out2"),
            "--decode",
            "nosuch",
        ]
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "--decode nosuch" in bad.stderr
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.csv").write_text("onset,offset,midi\n0.0,0.7,57\n1.0,1.7,57\n")
    proc = run_cli(
        [
            "-m",
            "gru_attn.evaluate",
            "--ckpt",
            str(ckpt),
            "--wav-dir",
            str(tmp_path),
            "--notes-dir",
            str(notes),
            "--out",
            str(tmp_path / "ev"),
            "--decode",
            str(CONF_DIR / "decode" / "peaks.yaml"),
        ],
        check=True,
    )
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["decode"]["_target_"] == "gru_attn.decode.DecodeParams"


def _cache_song(folder: Path, name: str, cond: str, rng) -> None:
    """A cached song whose logits say exactly its notes (voiced / onset / offset and the pitch head)."""
    from gru_attn.cfp import hz_to_bin
    from gru_attn.labels import notes_to_targets
    from gru_attn.notes import NoteList, midi_to_hz

    n = 150
    notes = NoteList([0.3, 1.0, 2.0], [0.9, 1.8, 2.6], [60.0, 64.0, 62.0])
    targets = notes_to_targets(notes.onsets, notes.offsets, n).astype(float)
    logits = np.zeros((n, 6 + 174 + 1), dtype=np.float32)
    logits[:, 1::2][:, :3] = np.where(targets > 0, 6.0, -6.0)
    hz = np.zeros(n)
    for a, b, m in notes.to_rows():
        hz[int(round(a / HOP_SECONDS)) : int(round(b / HOP_SECONDS))] = midi_to_hz(m)
    centre = np.nan_to_num(hz_to_bin(hz), nan=40.0)
    logits[:, 6:-1] = -0.5 * ((np.arange(174)[None] - centre[:, None]) / 1.0) ** 2
    logits[:, -1] = np.where(hz > 0, 6.0, -6.0)
    np.savez(folder / f"{name}.npz", logits=logits, ref=notes.to_rows(), cond=np.array(cond))


@pytest.mark.slow
def test_decode_study_scores_a_cache(run_cli, tmp_path):
    rng = np.random.default_rng(0)
    for set_name, conds in (("dev", ("clean", "reverb")), ("val", ("val",))):
        (tmp_path / "cache" / set_name).mkdir(parents=True)
        for i, cond in enumerate(conds * 2):
            _cache_song(tmp_path / "cache" / set_name, f"s{i}", cond, rng)
    run_cli(
        [
            "-m",
            "gru_attn.decode_study",
            f"cache={tmp_path / 'cache'}",
            "decode=peaks",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        check=True,
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["groups"]) == {"dev", "dev/clean", "dev/reverb", "val"}
    assert metrics["groups"]["dev/clean"]["songs"] == 2
    assert metrics["summary"]["objective"] == pytest.approx(1.0)  # the logits say the notes exactly
    assert metrics["summary"]["decode"]["_target_"] == "gru_attn.decode.DecodeParams"
    bad = run_cli(["-m", "gru_attn.decode_study", f"cache={tmp_path / 'missing'}", f"hydra.run.dir={tmp_path / 'r2'}"])
    assert bad.returncode == 2 and "cache=" in bad.stderr


@pytest.mark.slow
def test_decode_study_sweep_runs_optuna_trials(run_cli, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "cache" / "dev").mkdir(parents=True)
    _cache_song(tmp_path / "cache" / "dev", "s0", "clean", rng)
    run_cli(
        [
            "-m",
            "gru_attn.decode_study",
            "--multirun",
            "hparams_search=decode_segments",
            f"cache={tmp_path / 'cache'}",
            "hydra.sweeper.n_trials=3",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        check=True,
    )
    runs = sorted((tmp_path / "sweep").glob("*/metrics.json"))
    assert len(runs) == 3
    values = [json.loads(p.read_text())["summary"]["objective"] for p in runs]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert len({json.dumps(json.loads(p.read_text())["summary"]["decode"], sort_keys=True) for p in runs}) == 3


@pytest.mark.slow
@pytest.mark.parametrize("name,cls", [("peaks", DecodeParams), ("segments", SegmentDecoder)])
def test_training_records_the_chosen_decoder(run_cli, tmp_path, name, cls):
    run_cli(["-m", "gru_attn.train", "experiment=fast_test", f"decode={name}", f"hydra.run.dir={tmp_path}"], check=True)
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert isinstance(build_decoder(ckpt["decode"]), cls)
    assert ckpt["decode"] == dict(compose([f"decode={name}"]).decode)


@pytest.mark.slow
def test_decode_cache_stores_logits_notes_and_conditions(run_cli, tmp_path):
    ckpt = save_checkpoint(state(SegmentDecoder().as_dict()), tmp_path / "m.pt")
    dev = tmp_path / "dev"
    (dev / "wav").mkdir(parents=True)
    (dev / "notes").mkdir()
    for name in ("c1", "r1"):
        _tone(dev / "wav" / f"{name}.wav")
        (dev / "notes" / f"{name}.csv").write_text("onset,offset,midi\n0.0,0.7,57\n1.0,1.7,57\n")
    (dev / "clips.csv").write_text("name,cond\nc1,clean\nr1,reverb\n")
    proc = run_cli(
        [
            "-m",
            "gru_attn.decode_cache",
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "cache"),
            "--devset",
            f"dev={dev}",
            "--device",
            "cpu",
        ],
        check=True,
    )
    assert "dev (2 songs)" in proc.stdout
    with np.load(tmp_path / "cache" / "dev" / "r1.npz") as data:
        assert str(data["cond"]) == "reverb"
        assert data["logits"].shape[1] == 6 + 174 + 1 and abs(len(data["logits"]) - 100) <= 1  # 2 s of 20 ms frames
        np.testing.assert_allclose(data["ref"], [[0.0, 0.7, 57], [1.0, 1.7, 57]])
        level = data["level"]  # (T,) dB on the frames of the logits: the tone sounds 0-0.7 s of each second
        assert level.shape == (len(data["logits"]),)
        assert level[14] > -20.0 and level[42] == pytest.approx(-100.0)  # frames at 0.30 s and 0.86 s
    assert json.loads((tmp_path / "cache" / "cache.json").read_text())["sets"]["dev"]["songs"] == 2
    bad = run_cli(
        ["-m", "gru_attn.decode_cache", "--ckpt", str(ckpt), "--out", str(tmp_path / "c2"), "--devset", "nofolder"]
    )
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --devset nofolder: expected NAME=DIR"


@pytest.mark.parametrize("name", ["decode_segments", "decode_level", "decode_tail", "decode_head"])
def test_decode_searches_name_settings_the_segment_decoder_has(name):
    """A typo in a search space would only fail after the first trial's decode; catch it here."""
    from omegaconf import OmegaConf

    conf = OmegaConf.load(Path(CONF_DIR) / "hparams_search" / f"{name}.yaml")
    params = dict(conf.hydra.sweeper.params)
    names = {f.name for f in fields(SegmentDecoder)}
    assert params and all(key.startswith("decode.") for key in params)
    assert {key.removeprefix("decode.") for key in params} <= names
