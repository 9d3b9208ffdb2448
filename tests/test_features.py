"""features: file loading and the one per-block z-score."""

from __future__ import annotations

import numpy as np
import pytest

from gru_attn.errors import InputError
from gru_attn.features import read_features, zscore_blocks


def test_feature_files_are_zscored_per_block(tmp_path):
    rng = np.random.default_rng(0)
    raw = (rng.standard_normal((9, 20, 50)) * np.arange(1, 10)[:, None, None] + 5).astype(np.float32)
    path = tmp_path / "s_feat.npy"
    np.save(path, raw.reshape(9 * 20, 50))
    feats = read_features(path)
    assert feats.shape == (9, 20, 50) and feats.dtype == np.float32
    np.testing.assert_allclose(feats.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(feats.std(axis=(1, 2)), 1, atol=1e-5)
    np.testing.assert_allclose(zscore_blocks(feats.copy(), path), feats, atol=1e-6)  # idempotent


def test_constant_block_is_an_error_naming_the_file(tmp_path):
    feats = np.random.default_rng(0).standard_normal((9, 4, 6)).astype(np.float32)
    feats[3] = 1.0
    with pytest.raises(InputError, match="constant block 3 in x_feat.npy"):
        zscore_blocks(feats, "x_feat.npy")
