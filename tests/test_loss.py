"""Sdt6Loss: per-pair cross-entropy, positive-class weights, masking."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gru_attn.errors import InputError
from gru_attn.loss import Sdt6Loss


def batch(seed=0, b=2, n=10):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, n, 6, generator=g)
    targets = (torch.rand(b, n, 3, generator=g) < 0.4).long()
    return logits, targets, torch.ones(b, n, dtype=torch.bool)


def test_unweighted_is_mean_pair_cross_entropy():
    logits, targets, mask = batch()
    total, parts = Sdt6Loss(onset_weight=1.0, offset_weight=1.0)(logits, targets, mask)
    expected = [F.cross_entropy(logits[..., 2 * j:2 * j + 2].reshape(-1, 2), targets[..., j].reshape(-1))
                for j in range(3)]
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
    torch.testing.assert_close(weighted(logits, targets, mask)[1]["voiced_loss"],
                               base(logits, targets, mask)[1]["voiced_loss"])


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
