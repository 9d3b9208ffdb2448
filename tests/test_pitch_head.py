"""The pitch head: bins, decoding, loss targets, pitch-shift augmentation, learning, validation
with the inference pitch, pitch_method=model through transcribe_audio, checkpoints without a head."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest
import torch

from gru_attn import cfp
from gru_attn.cfp import bin_to_hz, hz_to_bin
from gru_attn.checkpoint import save_checkpoint
from gru_attn.contract import model_pitch_contours, pitch_from_logits
from gru_attn.decode import DecodeParams, decode_notes
from gru_attn.engine import validate
from gru_attn.errors import InputError
from gru_attn.frames import HOP_SECONDS, SAMPLE_RATE
from gru_attn.inference import features_for_audio, load_model, transcribe_audio, with_pitch_method
from gru_attn.labels import notes_to_targets
from gru_attn.loss import Sdt6Loss, pitch_targets
from gru_attn.metrics import frame_pitch_scores
from gru_attn.model import NoteSegmenter, predict_song
from gru_attn.notes import NoteList
from gru_attn.tracked_pitch import HeadPitch, TrackerPitch
from gru_attn.windows import ChunkDataset

CONFIG = dict(
    n_channels=9, n_bins=174, hidden_dim=32, num_layers=1, num_heads=2, conv_channels=[8, 16], dropout=0.0, context=4
)
LAYOUT = dict(n_channels=9, n_bins=174, context=4, hop_seconds=HOP_SECONDS, sample_rate=SAMPLE_RATE)


def test_pitch_bins_are_the_cfp_rows():
    np.testing.assert_allclose(bin_to_hz(np.arange(174)), cfp.central_freqs()[:174], rtol=1e-12)
    np.testing.assert_allclose(hz_to_bin(bin_to_hz([0.0, 10.25, 173.0])), [0.0, 10.25, 173.0], atol=1e-9)
    assert np.isnan(hz_to_bin([0.0, -1.0])).all()


def test_pitch_decoding_is_finer_than_a_bin():
    true_bins = np.array([40.3, 100.0, 100.5, 0.4, 172.9])
    logits = -0.5 * ((np.arange(174)[None] - true_bins[:, None]) / 1.0) ** 2
    f0, voiced = pitch_from_logits(logits, np.array([3.0, 3.0, -3.0, 3.0, 3.0]))
    np.testing.assert_allclose(hz_to_bin(f0)[:3], true_bins[:3], atol=0.06)  # 0.06 bin = 1.5 cents
    assert abs(hz_to_bin(f0)[4] - 172.9) < 0.5 and voiced.tolist() == [True, True, False, True, True]
    contour, fallback = model_pitch_contours(np.concatenate([np.zeros((5, 6)), logits, [[3], [3], [-3], [3], [3]]], 1))
    assert contour[2] == 0 and fallback[2] > 0 and np.allclose(contour[[0, 1, 3, 4]], f0[[0, 1, 3, 4]])


def test_frame_pitch_scores_match_mir_eval():
    rng = np.random.default_rng(0)
    truth = np.where(rng.random(400) < 0.7, 220 * 2 ** rng.normal(0, 0.5, 400), 0)
    est = np.where(rng.random(400) < 0.8, truth * 2.0 ** rng.choice([0, 1, -1, 0.03, 0.06], 400), 0)
    est[truth == 0] = np.where(rng.random(int((truth == 0).sum())) < 0.3, 300.0, 0.0)
    ours = frame_pitch_scores(est, truth)
    t = np.arange(400) * 0.02
    ref = mir_eval.melody.evaluate(t, truth, t, est)
    assert ours["RPA"] == pytest.approx(ref["Raw Pitch Accuracy"])
    assert ours["RCA"] == pytest.approx(ref["Raw Chroma Accuracy"])
    assert ours["FA"] == pytest.approx(ref["Voicing False Alarm"])
    assert 0.2 < ours["RPA"] < ours["RCA"] < 0.9


def test_pitch_targets_and_loss():
    f0 = torch.tensor([[0.0, 200.0, 60.0, 2000.0, bin_to_hz(173.0).item()]])
    soft, voiced = pitch_targets(f0, 174, sigma=1.0)
    assert voiced.tolist() == [[False, True, False, False, True]]  # 60 Hz and 2 kHz lie outside the bins
    np.testing.assert_allclose(soft.sum(-1).numpy(), voiced.float().numpy(), atol=1e-6)
    assert int(soft[0, 1].argmax()) == int(np.rint(hz_to_bin(200.0)))
    loss_fn = Sdt6Loss(pitch_weight=2.0)
    logits = torch.zeros(1, 5, 181, requires_grad=True)
    targets, mask = torch.zeros(1, 5, 3, dtype=torch.long), torch.ones(1, 5, dtype=torch.bool)
    total, parts = loss_fn(logits, targets, mask, pitch=f0)
    assert parts["pitch_loss"] == pytest.approx(np.log(174), rel=1e-4)  # uniform logits: CE = log(174)
    sdt_only, _ = loss_fn(logits[..., :6], targets, mask)
    assert float((total - sdt_only).detach()) == pytest.approx(
        2.0 * float(parts["pitch_loss"] + parts["pitch_voicing_loss"])
    )
    better = logits.detach().clone()
    better[0, 1, 6:-1] = 5 * soft[0, 1].log().clamp(min=-20)
    assert loss_fn(better, targets, mask, pitch=f0)[1]["pitch_loss"] < parts["pitch_loss"]


def test_pitch_shift_moves_features_and_f0():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((2, 12, 30)).astype(np.float32)
    f0 = np.full(30, float(bin_to_hz(5.0)))
    ds = ChunkDataset([(feats, np.zeros((30, 3)), f0)], chunk_frames=10, context=1, seed=0, pitch_shift_bins=(-3, 3))
    plan = ds.epoch_plan(0)
    assert plan.shape[1] == 3 and set(np.unique(ds.epoch_plan(0)[:, 2])) <= set(range(-3, 4))
    x, _, _, p = ds.collate([(0, 5, 2), (0, 5, -3), (0, 5, 0)])
    torch.testing.assert_close(x[0, :, 2:], x[2, :, :-2])
    assert (x[0, :, :2] == 0).all() and (x[1, :, -3:] == 0).all()
    torch.testing.assert_close(x[1, :, :-3], x[2, :, 3:])
    np.testing.assert_allclose(hz_to_bin(p[:, 0].numpy().astype(np.float64)), [7.0, 2.0, 5.0], atol=1e-4)
    with pytest.raises(InputError, match="pitch_shift_bins"):
        ChunkDataset([(feats, np.zeros((30, 3)), f0)], pitch_shift_bins=(3, -3))


def tiny_songs(n: int, seconds: float = 6.0):
    """``n`` synthetic test-split songs: (features, zero targets, true f0)."""
    from gru_attn.inference import features_for_audio
    from gru_attn.synth import render_song

    out = []
    for i in range(n):
        song = render_song(0, "test", i, (seconds, seconds))
        feats = features_for_audio(song.pcm.astype(np.float32) / 32767.0)
        n_frames = min(feats.shape[-1], len(song.f0))
        out.append((feats[..., :n_frames], np.zeros((n_frames, 3), np.uint8), song.f0[:n_frames]))
    return out


@pytest.mark.slow
def test_pitch_head_learns_tiny_corpus():
    """25 Adam steps on 3 songs of 6 s: the held-out song's frame RPA rises from chance to > 0.6."""
    songs = tiny_songs(4)
    torch.manual_seed(0)
    model = NoteSegmenter(**CONFIG, pitch_head=True)

    def rpa() -> float:
        contour, _ = model_pitch_contours(predict_song(model, songs[3][0]))
        return frame_pitch_scores(contour, songs[3][2])["RPA"]

    before = rpa()
    dataset = ChunkDataset(songs[:3], chunk_frames=64, context=4, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn, step = Sdt6Loss(), 0
    while step < 25:
        model.train()
        for feats, targets, mask, pitch in dataset.epoch_batches(step, 6):
            loss, _ = loss_fn(model(feats), targets, mask, pitch=pitch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    after = rpa()
    assert before < 0.2 and after > 0.6, (before, after)


class OracleModel(torch.nn.Module):
    """A stand-in network whose features carry its answers: channel 0, bins 0-2 are the sdt
    targets (logit +-8), bin 3 is the pitch bin it reports (shifted by ``shift_bins``)."""

    context, has_pitch_head, n_channels, n_bins, n_outputs = 0, True, 1, 174, 181

    def __init__(self, shift_bins: float = 0.0):
        super().__init__()
        self.shift_bins = shift_bins

    def forward(self, chunk):
        x = chunk[:, 0].permute(0, 2, 1)  # (B, L, 174)
        sdt = torch.stack([-x[..., :3], x[..., :3]], -1).reshape(*x.shape[:2], 6) * 8
        centre = x[..., 3:4] + self.shift_bins
        bins = -0.5 * (torch.arange(174.0) - centre) ** 2
        voicing = torch.where(x[..., 3:4] > 0, 8.0, -8.0)
        return torch.cat([sdt, bins, voicing], -1)


def oracle_song(seed: int = 0):
    """A Song-like object of 10 notes with true f0 and features for :class:`OracleModel`."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    onsets = np.arange(10) * 0.5 + 0.1
    offsets = onsets + 0.3
    midi = rng.integers(55, 72, 10).astype(float)
    n = 260
    targets = notes_to_targets(onsets, offsets, n)
    f0 = np.zeros(n)
    for a, b, m in zip(onsets, offsets, midi):
        f0[int(round(a / HOP_SECONDS)) - 1 : int(round(b / HOP_SECONDS)) - 1] = 440 * 2 ** ((m - 69) / 12)
    f0 *= targets[:, 0] > 0
    feats = np.zeros((1, 174, n), np.float32)
    feats[0, :3] = 2.0 * targets.T - 1.0
    feats[0, 3] = np.where(f0 > 0, hz_to_bin(np.where(f0 > 0, f0, 1.0)), 0)
    notes = NoteList(onsets, offsets, midi)
    return SimpleNamespace(name="s0", feats=feats, pitch=f0, targets=targets.astype(np.uint8), notes=notes, n_frames=n)


def test_validation_uses_the_inference_pitch():
    song = oracle_song()
    params = DecodeParams()
    right = validate(OracleModel(), [song], Sdt6Loss(), params, "cpu", pitch=HeadPitch())
    assert right["val/COnP_f1"] > 0.9 and right["val/oracle_COnP_f1"] > 0.9 and right["val/pitch_RPA"] > 0.9
    wrong = validate(OracleModel(shift_bins=12.0), [song], Sdt6Loss(), params, "cpu", pitch=HeadPitch())  # 3 semitones
    assert wrong["val/oracle_COnP_f1"] > 0.9 and wrong["val/COnP_f1"] < 0.1 and wrong["val/pitch_RPA"] < 0.1
    assert wrong["val/COn_f1"] > 0.9 and wrong["val/pitch_RCA"] < 0.1
    octave = validate(OracleModel(), [song], Sdt6Loss(), params, "cpu", pitch=lambda s: 2 * s.pitch)  # a tracker
    assert octave["val/COnP_f1"] < 0.1 and octave["val/oracle_COnP_f1"] > 0.9
    oracle = validate(OracleModel(shift_bins=12.0), [song], Sdt6Loss(), params, "cpu", pitch=None)
    assert oracle["val/COnP_f1"] == oracle["val/oracle_COnP_f1"] > 0.9


def test_tracker_pitch_is_cached(tmp_path):
    from types import SimpleNamespace

    import soundfile

    from gru_attn.frames import num_frames

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    audio = 0.3 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 5))
    (tmp_path / "wav").mkdir()
    soundfile.write(tmp_path / "wav" / "s0.wav", audio, SAMPLE_RATE, subtype="PCM_16")
    song = SimpleNamespace(name="s0", pitch=np.zeros(num_frames(len(t)) + 2), n_frames=num_frames(len(t)) + 2)
    tracker = TrackerPitch("praat", tmp_path / "wav", tmp_path / "pitch_praat")
    first = tracker(song)
    assert len(first) == song.n_frames and np.median(first[first > 0]) == pytest.approx(220, rel=0.01)
    assert (tmp_path / "pitch_praat" / "s0_pitch.npy").is_file()
    (tmp_path / "wav" / "s0.wav").unlink()
    np.testing.assert_array_equal(tracker(song), first)  # read from the cache
    assert (TrackerPitch("praat")(song) == song.pitch).all()  # no audio: the corpus's own contour


def test_decode_falls_back_to_the_model_pitch_when_no_frame_is_voiced():
    probs = np.zeros((40, 3))
    probs[5:25, 0], probs[5, 1], probs[25, 2] = 1, 1, 1
    contour, fallback = np.zeros(40), np.full(40, 440.0)
    assert len(decode_notes(probs, contour, DecodeParams())) == 0
    notes = decode_notes(probs, contour, DecodeParams(), fallback_hz=fallback)
    assert len(notes) == 1 and notes.midi[0] == pytest.approx(69.0)
    contour[10:12] = 220.0  # a voiced frame wins over the fallback
    assert decode_notes(probs, contour, DecodeParams(), fallback_hz=fallback).midi[0] == pytest.approx(57.0)


def head_checkpoint(tmp_path, pitch_head=True, method="model"):
    torch.manual_seed(0)
    model = NoteSegmenter(**CONFIG, pitch_head=pitch_head)
    config = dict(CONFIG, pitch_head=pitch_head) if pitch_head else dict(CONFIG)
    state = {
        "model": model.state_dict(),
        "model_config": config,
        "feature_layout": dict(LAYOUT),
        "decode": {},
        "pitch_method": method,
    }
    return save_checkpoint(state, tmp_path / f"head_{pitch_head}_{method}.pt")


def test_pitch_method_model_through_transcribe_audio(tmp_path):
    model, info = load_model(head_checkpoint(tmp_path))
    assert info.pitch_method == "model" and model.has_pitch_head
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    audio = (0.3 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 5))).astype(np.float32)
    result = transcribe_audio(model, info, audio)
    feats = features_for_audio(audio)
    contour, fallback = model_pitch_contours(predict_song(model, feats))
    np.testing.assert_array_equal(result.pitch, contour)  # the notes are decoded with the head's pitch
    assert len(result.pitch) == feats.shape[-1] and result.timings["pitch"] < 0.05
    expected = decode_notes(result.probs, contour, info.decode, fallback_hz=fallback)
    np.testing.assert_allclose(result.notes.midi, expected.midi)
    with pytest.raises(InputError, match="need audio"):
        transcribe_audio(model, with_pitch_method(model, info, "praat"), feats=feats)
    assert len(transcribe_audio(model, info, feats=feats).pitch) == feats.shape[-1]  # model pitch: features suffice


def test_checkpoint_without_head_cannot_use_model_pitch(tmp_path):
    path = head_checkpoint(tmp_path, pitch_head=False, method="praat")
    model, info = load_model(path)  # an old checkpoint still loads
    assert not model.has_pitch_head and info.pitch_method == "praat"
    with pytest.raises(InputError, match="pitch_method=model needs a model with a pitch head") as err:
        with_pitch_method(model, info, "model")
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    with pytest.raises(InputError, match="pitch_method=model needs a model with a pitch head"):
        load_model(head_checkpoint(tmp_path, pitch_head=False, method="model"))
    assert with_pitch_method(model, info, "world").pitch_method == "world"


def test_cli_pitch_method_model_on_a_checkpoint_without_head(capsys, tmp_path):
    import soundfile

    from gru_attn.transcribe import main

    path = head_checkpoint(tmp_path, pitch_head=False, method="praat")
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    soundfile.write(tmp_path / "a.wav", 0.3 * np.sin(2 * np.pi * 220 * t), SAMPLE_RATE, subtype="PCM_16")
    code = main(
        [str(tmp_path / "a.wav"), "--ckpt", str(path), "--out", str(tmp_path / "out"), "--pitch-method", "model"]
    )  # the CLI in process
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: {path}: pitch_method=model needs a model with a pitch head; this checkpoint has none "
        "(use --pitch-method harvest, praat or world)"
    ]  # the trackers of conf/pitch
