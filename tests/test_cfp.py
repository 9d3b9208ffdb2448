"""CFP features: parity with VOCANO's fixture, frame grid, edge frames, chunking, bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch

from gru_attn import cfp
from gru_attn.audio import load_audio
from gru_attn.errors import InputError
from gru_attn.frames import num_frames

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "vocano_cfp"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import vocano_reference  # noqa: E402  (the literal, loop-and-matrix reading of VOCANO used as reference)


def _signal(n: int, seed: int = 0) -> np.ndarray:
    """(n,) float32 harmonic tone with vibrato plus noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = 220 * 2 ** (0.3 * np.sin(2 * np.pi * 5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6)) + 0.01 * rng.standard_normal(n)
    return x.astype(np.float32)


def _assert_close_relative(ours: np.ndarray, ref: np.ndarray, rel: float, what: str) -> None:
    assert ours.shape == ref.shape, what
    err = np.abs(ours - ref).max()
    assert err <= rel * np.abs(ref).max(), f"{what}: max error {err:.3g} vs max |ref| {np.abs(ref).max():.3g}"


def test_features_match_vocano_fixture():
    feats = cfp.cfp_features(load_audio(FIXTURE / "probe.wav"))
    ref = np.load(FIXTURE / "probe_feat.npz")["feat"]
    assert feats.dtype == np.float32 and feats.shape == ref.shape == (1566, 399)
    assert np.abs(feats - ref).max() <= 1e-5


def test_layers_match_vocano_fixture():
    layers = cfp.cfp_layers(load_audio(FIXTURE / "probe.wav"), 186)
    ref = np.load(FIXTURE / "probe_layers_win1.npz")
    for ours, name in zip(layers, ("tfrL01", "tfrLF1", "tfrLQ1")):
        _assert_close_relative(ours, ref[name], 1e-6, name)


def test_melody_z_matches_vocano_fixture():
    z = cfp.melody_z(load_audio(FIXTURE / "probe.wav"))
    _assert_close_relative(z, np.load(FIXTURE / "melody_Z.npy"), 1e-6, "melody Z")


@pytest.mark.slow
def test_reference_matches_vocano_fixture():
    """The reference (benchmarks/vocano_reference.py) computes VOCANO's features: it may judge ours."""
    ref = vocano_reference.features(load_audio(FIXTURE / "probe.wav"))
    assert np.abs(ref - np.load(FIXTURE / "probe_feat.npz")["feat"]).max() <= 1e-6


def test_central_freqs_match_vocano_fixture():
    np.testing.assert_allclose(cfp.central_freqs(), np.load(FIXTURE / "central_freqs.npy"), rtol=1e-15, atol=0)


@pytest.mark.parametrize("window", [186, 372, 743, 2049])
def test_blackman_harris_matches_scipy(window):
    np.testing.assert_allclose(
        cfp.blackman_harris(window), scipy.signal.windows.blackmanharris(window), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("n", [641, 961, 12345])
@pytest.mark.parametrize("window", [186, 743])
def test_layers_match_literal_reference_on_odd_lengths(n, window):
    """Edge frames (truncated taps, last sample unused) and the frame grid on lengths not divisible by 320."""
    x = _signal(n)
    for ours, ref, name in zip(cfp.cfp_layers(x, window), vocano_reference.layers(x, window), ("L0", "LF", "LQ")):
        _assert_close_relative(ours, ref, 1e-6, f"{name} window {window} n {n}")


@pytest.mark.parametrize("n, frames", [(641, 2), (960, 2), (961, 3), (12345, 38), (16000, 49)])
def test_frame_count(n, frames):
    assert num_frames(n) == frames
    feats = cfp.cfp_features(_signal(n))
    assert feats.shape == (1566, frames) and feats.dtype == np.float32 and np.isfinite(feats).all()


@pytest.mark.parametrize("n", [10, 320, 321, 640])
def test_fewer_than_two_frames_is_an_error(n):
    with pytest.raises(InputError, match="too short"):
        cfp.cfp_features(_signal(n), source="short.wav")


def test_silence_is_an_error():
    with pytest.raises(InputError, match="silent"):
        cfp.cfp_features(np.zeros(16000, dtype=np.float32), source="quiet.wav")


def test_blocks_are_zscored_and_row0_is_constant():
    feats = cfp.cfp_features(_signal(20000)).astype(np.float64).reshape(9, 174, -1)
    np.testing.assert_allclose(feats.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(feats.std(axis=(1, 2)), 1, atol=1e-5)
    assert np.ptp(feats[:, 0, :], axis=1).max() == 0  # no band is built for row 0


def test_chunking_does_not_change_features():
    x = _signal(20000)
    whole = cfp.cfp_features(x, batch_frames=10_000)
    for chunk in (5, 16):
        np.testing.assert_allclose(cfp.cfp_features(x, batch_frames=chunk), whole, rtol=0, atol=1e-6)


def test_gain_invariance():
    x = _signal(20000)
    np.testing.assert_allclose(cfp.cfp_features(x * np.float32(0.5)), cfp.cfp_features(x), rtol=0, atol=1e-5)


def test_leading_silence_gives_exact_zero_layers():
    x = _signal(16000)
    x[:8000] = 0
    for layer in cfp.cfp_layers(x, 186):
        assert (layer[:, :20] == 0).all() and layer[:, 30:].max() > 0


def test_melody_z_shape():
    z = cfp.melody_z(_signal(12345))
    assert z.shape == (174, 38) and z.dtype == np.float32 and (z >= 0).all()


def test_cuda_request_without_cuda_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(InputError, match="CUDA"):
        cfp.cfp_features(_signal(2000), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x = _signal(48000)
    np.testing.assert_allclose(cfp.cfp_features(x, device="cuda"), cfp.cfp_features(x), rtol=0, atol=1e-5)


def test_unknown_device_is_an_error():
    with pytest.raises(InputError, match="expected auto, cpu, cuda or cuda:N"):
        cfp.cfp_features(_signal(2000), device="gpu")


def test_thread_setting_is_left_unchanged():
    before = torch.get_num_threads()
    cfp.cfp_features(_signal(20000))
    assert torch.get_num_threads() == before
