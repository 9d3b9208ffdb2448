"""inference: checkpoint validation, feature layout checks, frame-shared == per-window through transcribe_audio."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from gru_attn.checkpoint import save_checkpoint
from gru_attn.decode import DecodeParams, probs_from_logits
from gru_attn.errors import InputError
from gru_attn.frames import HOP_SECONDS, SAMPLE_RATE, num_frames
from gru_attn.inference import STAGES, features_from_file, load_model, transcribe_audio
from gru_attn.windows import naive_windows

CONFIG = dict(
    n_channels=9, n_bins=174, hidden_dim=32, num_layers=2, num_heads=4, conv_channels=[8, 16], dropout=0.1, context=9
)
LAYOUT = dict(n_channels=9, n_bins=174, context=9, hop_seconds=HOP_SECONDS, sample_rate=SAMPLE_RATE)


def make_state(config=CONFIG, layout=LAYOUT, seed=0, **extra) -> dict:
    """Checkpoint contents of a random model with non-trivial BatchNorm statistics."""
    from gru_attn.model import NoteSegmenter

    torch.manual_seed(seed)
    model = NoteSegmenter(**config)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
    return {
        "model": model.state_dict(),
        "model_config": dict(config),
        "feature_layout": dict(layout),
        "decode": {"onset_threshold": 0.4},
        "pitch_method": "praat",
        **extra,
    }


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(make_state(), tmp_path / "model.pt")


def harmonic_audio(seconds: float = 2.0) -> np.ndarray:
    """A gliding harmonic tone (200 -> 300 Hz) with a pause, float32 at 16 kHz."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(200 + 100 * t / seconds) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 6)) * (np.sin(np.pi * t / seconds * 3) > -0.5)
    return (0.3 * x).astype(np.float32)


def test_load_model_restores_weights_and_settings(checkpoint):
    model, info = load_model(checkpoint)
    assert not model.training
    state = make_state()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state["model"][key])
    assert info.decode == DecodeParams(onset_threshold=0.4)
    assert info.pitch_method == "praat" and (info.n_channels, info.n_bins) == (9, 174)


def test_frame_shared_inference_equals_per_window(checkpoint):
    """transcribe_audio (predict_song, chunked) == every 19-frame window run on its own, in eval mode."""
    model, info = load_model(checkpoint)
    rng = np.random.default_rng(1)
    n = 80
    feats = rng.standard_normal((9, 174, n)).astype(np.float32)
    pitch = np.full(n, 220.0)
    result = transcribe_audio(model, info, feats=feats, pitch=pitch, segment_frames=24)
    with torch.no_grad():
        logits = model.forward_windows(torch.from_numpy(naive_windows(feats, np.arange(n), model.context)))
    np.testing.assert_allclose(result.probs, probs_from_logits(logits.numpy()), rtol=1e-4, atol=1e-5)
    assert result.duration_s == pytest.approx((n + 1) * HOP_SECONDS)


def test_transcribe_audio_computes_features_and_pitch(checkpoint):
    model, info = load_model(checkpoint)
    audio = harmonic_audio()
    result = transcribe_audio(model, info, audio)
    n = num_frames(len(audio))
    assert result.probs.shape == (n, 3) and result.pitch.shape == (n,)
    assert ((result.probs >= 0) & (result.probs <= 1)).all()
    assert set(result.timings) == set(STAGES) and all(v >= 0 for v in result.timings.values())
    assert result.duration_s == pytest.approx(2.0) and result.rtf > 0
    voiced = result.pitch[result.pitch > 0]
    assert voiced.size > n // 2 and 180 < np.median(voiced) < 320  # the praat tracker follows the glide


def test_transcribe_audio_decodes_notes_with_the_tracked_pitch(checkpoint):
    """With every threshold at 0 an untrained model's curves must yield notes, ordered, on the glide's pitches."""
    model, info = load_model(checkpoint)
    info = dataclasses.replace(
        info,
        decode=DecodeParams(onset_threshold=0.0, offset_threshold=0.0, voiced_threshold=0.0, min_voiced_fraction=0.0),
    )
    notes = transcribe_audio(model, info, harmonic_audio()).notes
    assert len(notes) > 0
    assert (np.diff(notes.onsets) >= 0).all() and (notes.offsets > notes.onsets).all()
    assert ((notes.midi > 53) & (notes.midi < 64)).all()  # 180..320 Hz


def test_feature_layout_mismatch_is_an_input_error(checkpoint, tmp_path):
    model, info = load_model(checkpoint)
    path = tmp_path / "song_feat.npy"
    np.save(path, np.random.default_rng(0).standard_normal((9 * 100, 50)).astype(np.float32))  # 100 bins, not 174
    feats = features_from_file(path)
    assert feats.shape == (9, 100, 50)
    with pytest.raises(InputError, match="different feature layout"):
        transcribe_audio(model, info, feats=feats, pitch=np.zeros(50), source=path)


def test_feature_and_pitch_lengths(checkpoint):
    model, info = load_model(checkpoint)
    feats = np.random.default_rng(0).standard_normal((9, 174, 60)).astype(np.float32)
    assert transcribe_audio(model, info, feats=feats, pitch=np.zeros(58)).probs.shape == (58, 3)  # trimmed
    with pytest.raises(InputError, match="frames"):
        transcribe_audio(model, info, feats=feats, pitch=np.zeros(50))
    with pytest.raises(InputError, match="need audio"):
        transcribe_audio(model, info, feats=feats)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "not found"),
        ("garbage", "not a gru_attn checkpoint"),
        ("hostile", "holds objects that are refused"),
        ("foreign_target", "refused"),
        ("foreign", "not a gru_attn checkpoint"),
        ("other_size", "weights do not fit"),
        ("bad_config", "cannot build"),
        ("config_vs_layout", "disagrees"),
        ("other_hop", "hop_seconds"),
        ("bad_pitch_method", "pitch_method"),
        ("bad_decode", "decode"),
    ],
)
def test_incompatible_checkpoints_raise_one_clear_error(tmp_path, case, message):
    path = tmp_path / f"{case}.pt"
    if case == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 10)
    elif case == "hostile":
        torch.save({"model": Hostile()}, path)
    elif case == "foreign":
        torch.save({"state_dict": {}}, path)
    elif case != "missing":
        state = make_state()
        if case == "other_size":  # weights of a wider model under this model's config
            state["model"] = make_state({**CONFIG, "hidden_dim": 64})["model"]
        elif case == "foreign_target":
            state["model_config"] = {**CONFIG, "_target_": "torch.nn.Linear"}
        elif case == "bad_config":
            state["model_config"] = {**CONFIG, "hidden_dim": 33}
        elif case == "config_vs_layout":
            state["feature_layout"] = {**LAYOUT, "n_bins": 100}
        elif case == "other_hop":
            state["feature_layout"] = {**LAYOUT, "hop_seconds": 0.01}
        elif case == "bad_pitch_method":
            state["pitch_method"] = "crepe"
        elif case == "bad_decode":
            state["decode"] = {"onset_threshold": 2.0}
        save_checkpoint(state, path)
    with pytest.raises(InputError) as exc:
        load_model(path)
    text = str(exc.value)
    assert message in text and str(path) in text and "\n" not in text
    assert "weights_only" not in text


class Hostile:
    """Unpickling it would run a shell command; a checkpoint holding it must be refused unread."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_feature_and_pitch_files_of_different_lengths_name_both(checkpoint, tmp_path):
    model, info = load_model(checkpoint)
    feat, pitch = tmp_path / "a_feat.npy", tmp_path / "b_pitch.npy"
    np.save(feat, np.random.default_rng(0).standard_normal((9 * 174, 60)).astype(np.float32))
    np.save(pitch, np.zeros(40))
    with pytest.raises(InputError) as exc:
        transcribe_audio(
            model,
            info,
            feats=features_from_file(feat),
            pitch=np.zeros(40),
            source=feat,
            feat_source=feat,
            pitch_source=pitch,
        )
    assert str(feat) in str(exc.value) and str(pitch) in str(exc.value)


def test_transcribe_cli_names_both_files_of_different_lengths(checkpoint, capsys, tmp_path):
    from gru_attn.transcribe import main

    feat, pitch = tmp_path / "a_feat.npy", tmp_path / "b_pitch.npy"
    np.save(feat, np.random.default_rng(0).standard_normal((9 * 174, 60)).astype(np.float32))
    np.save(pitch, np.zeros(40))
    code = main(
        [
            "--ckpt",
            str(checkpoint),
            "--feat",
            str(feat),
            "--pitch",
            str(pitch),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ]
    )  # the CLI in process
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert str(feat) in line and str(pitch) in line


def test_features_for_audio_are_the_extractors_output_unchanged():
    """CFP output is z-scored by the extractor; inference must not normalise it a second time."""
    from gru_attn.cfp import cfp_features
    from gru_attn.inference import features_for_audio

    audio = harmonic_audio(1.0)
    raw = cfp_features(audio)
    feats = features_for_audio(audio)
    assert feats.shape == (9, 174, raw.shape[1])
    np.testing.assert_array_equal(feats.reshape(raw.shape), raw)
