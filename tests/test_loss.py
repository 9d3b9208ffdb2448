"""Sdt6Loss: per-pair cross-entropy, positive-class weights, masking, widened event targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gru_attn.errors import InputError
from gru_attn.labels import widen_events
from gru_attn.loss import Sdt6Loss


def batch(seed=0, b=2, n=10):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, n, 6, generator=g)
    targets = (torch.rand(b, n, 3, generator=g) < 0.4).long()
    return logits, targets, torch.ones(b, n, dtype=torch.bool)


def test_unweighted_is_mean_pair_cross_entropy():
    logits, targets, mask = batch()
    total, parts = Sdt6Loss(onset_weight=1.0, offset_weight=1.0)(logits, targets, mask)
    expected = [
        F.cross_entropy(logits[..., 2 * j : 2 * j + 2].reshape(-1, 2), targets[..., j].reshape(-1)) for j in range(3)
    ]
    for j, name in enumerate(["voiced_loss", "onset_loss", "offset_loss"]):
        torch.testing.assert_close(parts[name], expected[j])
        assert not parts[name].requires_grad
    torch.testing.assert_close(total, sum(expected))


def test_positive_weight_scales_positive_frames_only():
    logits, targets, mask = batch(1)
    base = Sdt6Loss(onset_weight=1.0, offset_weight=1.0)
    weighted = Sdt6Loss(onset_weight=4.0, offset_weight=1.0)
    ce = F.cross_entropy(logits[..., 2:4].reshape(-1, 2), targets[..., 1].reshape(-1), reduction="none")
    pos = targets[..., 1].reshape(-1) == 1
    assert pos.any() and (~pos).any()
    expected = (4.0 * ce[pos].sum() + ce[~pos].sum()) / ce.numel()
    torch.testing.assert_close(weighted(logits, targets, mask)[1]["onset_loss"], expected)
    assert weighted(logits, targets, mask)[1]["onset_loss"] > base(logits, targets, mask)[1]["onset_loss"]
    torch.testing.assert_close(
        weighted(logits, targets, mask)[1]["voiced_loss"], base(logits, targets, mask)[1]["voiced_loss"]
    )


def test_voiced_lead_weight_scales_voiced_frames_outside_notes_only():
    logits, targets, mask = batch(4)
    g = torch.Generator().manual_seed(5)
    pitch = torch.where(torch.rand(targets.shape[:2], generator=g) < 0.5, 220.0, 0.0)
    pitch[0, 0] = float("nan")  # no f0: not a voiced lead
    ce = F.cross_entropy(logits[..., :2].reshape(-1, 2), targets[..., 0].reshape(-1), reduction="none")
    y, f0 = targets[..., 0].reshape(-1), pitch.reshape(-1)
    lead = (y == 0) & (f0 > 0)
    assert lead.any() and ((y == 0) & ~(f0 > 0)).any() and ((y == 1) & (f0 > 0)).any()
    expected = (3.0 * ce[lead].sum() + ce[~lead].sum()) / ce.numel()
    parts = Sdt6Loss(voiced_lead_weight=3.0)(logits, targets, mask, pitch)[1]
    torch.testing.assert_close(parts["voiced_loss"], expected)
    plain = Sdt6Loss()(logits, targets, mask, pitch)[1]
    torch.testing.assert_close(plain["voiced_loss"], ce.mean())  # 1: the loss as before
    torch.testing.assert_close(parts["onset_loss"], plain["onset_loss"])  # the event pairs are untouched
    # without the f0 there is nothing to tell a voiced lead by: the plain loss
    torch.testing.assert_close(Sdt6Loss(voiced_lead_weight=3.0)(logits, targets, mask)[1]["voiced_loss"], ce.mean())
    with pytest.raises(InputError, match="loss.voiced_lead_weight=0"):
        Sdt6Loss(voiced_lead_weight=0)


def test_masked_frames_do_not_contribute():
    logits, targets, mask = batch(2)
    mask[0, 6:] = False
    mask[1, :3] = False
    loss_fn = Sdt6Loss()
    total, _ = loss_fn(logits, targets, mask)
    changed = logits.clone()
    changed[~mask] = torch.tensor([1e4, -1e4, -1e4, 1e4, float("nan"), 0.0])
    torch.testing.assert_close(loss_fn(changed, targets, mask)[0], total)
    # equals the loss over the unmasked frames alone
    torch.testing.assert_close(loss_fn(logits[mask][None], targets[mask][None], mask[mask][None])[0], total)
    logits.requires_grad_(True)
    loss_fn(logits, targets, mask)[0].backward()
    assert not logits.grad[~mask].any() and logits.grad[mask].abs().sum() > 0


def test_all_masked_is_zero_not_nan():
    logits, targets, mask = batch(3)
    total, parts = Sdt6Loss()(logits, targets, torch.zeros_like(mask))
    assert float(total) == 0.0 and all(float(v) == 0.0 for v in parts.values())


def test_bad_weights_and_shapes():
    with pytest.raises(InputError, match="loss.onset_weight=0"):
        Sdt6Loss(onset_weight=0)
    with pytest.raises(InputError, match="loss.voiced_weight=-1"):
        Sdt6Loss(voiced_weight=-1)
    logits, targets, mask = batch()
    with pytest.raises(ValueError, match="shapes do not match"):
        Sdt6Loss()(logits, targets[:, :5], mask)


def test_widen_events_marks_neighbours_of_onsets_and_offsets_only():
    targets = np.zeros((12, 3), dtype=np.uint8)
    targets[2:9, 0] = 1
    targets[[0, 5], 1] = 1  # an onset on the first frame: its left neighbour lies outside the song
    targets[[8, 11], 2] = 1
    wide = widen_events(targets, 1)
    assert np.flatnonzero(wide[:, 1]).tolist() == [0, 1, 4, 5, 6]
    assert np.flatnonzero(wide[:, 2]).tolist() == [7, 8, 9, 10, 11]
    np.testing.assert_array_equal(wide[:, 0], targets[:, 0])
    assert np.flatnonzero(widen_events(targets, 2)[:, 1]).tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    np.testing.assert_array_equal(widen_events(targets, 0), targets)
    assert targets[:, 1].sum() == 2  # the input is not modified
    with pytest.raises(ValueError, match="width must be >= 0"):
        widen_events(targets, -1)


def test_event_width_sets_the_training_targets():
    targets = np.zeros((10, 3), dtype=np.uint8)
    targets[4, 1] = 1
    assert Sdt6Loss().training_targets(targets)[:, 1].sum() == 1
    assert np.flatnonzero(Sdt6Loss(event_width=2).training_targets(targets)[:, 1]).tolist() == [2, 3, 4, 5, 6]
    for bad in (-1, 1.5, True, "abc", float("inf")):
        with pytest.raises(InputError, match="loss.event_width="):
            Sdt6Loss(event_width=bad)


def test_training_uses_the_widened_targets(monkeypatch, tmp_path):
    """fit() hands ChunkDataset the loss's training targets, and validation's loss uses them too."""
    from gru_attn import engine
    from gru_attn.decode import DecodeParams
    from gru_attn.model import NoteSegmenter
    from gru_attn.notes import NoteList

    seen = []

    class Spy(engine.ChunkDataset):
        def __init__(self, songs, **kw):
            seen.extend(song[1] for song in songs)
            super().__init__(songs, **kw)

    monkeypatch.setattr(engine, "ChunkDataset", Spy)
    rng = np.random.default_rng(0)
    targets = np.zeros((60, 3), dtype=np.uint8)
    targets[10:40, 0], targets[10, 1], targets[40, 2] = 1, 1, 1
    song = type(
        "Song",
        (),
        dict(
            feats=rng.normal(size=(9, 174, 60)).astype(np.float32),
            targets=targets,
            pitch=np.where(targets[:, 0] == 1, 220.0, 0.0),
            notes=NoteList([0.2], [0.8], [57.0]),
            name="s",
        ),
    )()
    model = NoteSegmenter(hidden_dim=16, num_layers=1, num_heads=2, conv_channels=[4], context=2)
    settings = engine.TrainerSettings(max_epochs=1, device="cpu", frame_step=1)
    wide = Sdt6Loss(event_width=1)
    train = engine.training_set([song], model, wide, batch_size=2, chunk_frames=16, seed=0)
    engine.fit(
        model,
        train,
        engine.ValidationSet([song], DecodeParams()),
        wide,
        lambda p: torch.optim.SGD(p, lr=0.0),
        None,
        settings,
        engine.RunSpec(tmp_path, "val/loss", "minimize"),
    )
    assert np.flatnonzero(seen[0][:, 1]).tolist() == [9, 10, 11]
    assert np.flatnonzero(seen[0][:, 2]).tolist() == [39, 40, 41]
    narrow = engine.validate(model, [song], Sdt6Loss(), DecodeParams(), "cpu")["val/loss"]
    assert engine.validate(model, [song], wide, DecodeParams(), "cpu")["val/loss"] != pytest.approx(narrow)
