"""NoteSegmenter: shapes, parameters, frame-shared == per-window, song inference, learning, config errors."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gru_attn.contract import N_SDT_LOGITS, split_logits
from gru_attn.errors import InputError
from gru_attn.loss import Sdt6Loss
from gru_attn.model import (
    FrameEncoder,
    NoteSegmenter,
    centre_attention,
    conv_stack_cl,
    num_parameters,
    predict_song,
    window_gru,
)
from gru_attn.windows import naive_windows

CONF_MODEL = Path(__file__).resolve().parents[1] / "conf" / "model"
TINY = dict(n_channels=3, n_bins=24, hidden_dim=16, num_layers=1, num_heads=2, conv_channels=(4, 8), context=3)


def preset(name: str) -> dict:
    """Constructor kwargs of ``conf/model/<name>.yaml`` (``_target_`` removed)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_MODEL / f"{name}.yaml"), resolve=True)
    assert cfg.pop("_target_") == "gru_attn.model.NoteSegmenter"
    return cfg


def randomise_norm_stats(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running statistics (so eval mode is a real test)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


@pytest.mark.parametrize("pitch_head", [True, False])
@pytest.mark.parametrize("name", ["gru_attention", "simplified"])
def test_preset_shapes(name, pitch_head):
    torch.manual_seed(0)
    config = preset(name)
    assert config["pitch_head"] is True and config["pitch_features"] is True  # the presets train the pitch head
    model = NoteSegmenter(**dict(config, pitch_head=pitch_head, pitch_features=pitch_head)).eval()
    k, n_out = model.context, 181 if pitch_head else 6
    assert k == 9 and model.window == 19 and model.n_outputs == n_out
    chunk = torch.randn(2, 9, 174, 5 + 2 * k)
    with torch.no_grad():
        enc = model.encode(chunk)
        assert enc.shape == (2, 5 + 2 * k, model.encoder.hidden_dim)
        assert model.classify_encoded(enc, chunk).shape == (2, 5, n_out)
        assert model(chunk).shape == (2, 5, n_out)
        assert model.forward_windows(torch.randn(3, 9, 174, 19)).shape == (3, n_out)


def test_split_logits_is_the_one_reading_of_the_output_layout():
    logits = torch.randn(2, 5, N_SDT_LOGITS + 174 + 1)
    sdt6, bins, voicing = split_logits(logits)
    assert N_SDT_LOGITS == 6 and sdt6.shape == (2, 5, 6) and bins.shape == (2, 5, 174) and voicing.shape == (2, 5)
    torch.testing.assert_close(torch.cat([sdt6, bins, voicing[..., None]], -1), logits)
    assert sdt6.data_ptr() == logits.data_ptr()  # views, no copy
    plain = np.random.default_rng(0).standard_normal((7, 6))
    sdt6, bins, voicing = split_logits(plain)
    assert bins is None and voicing is None and np.array_equal(sdt6, plain)
    assert split_logits(plain[:, :4])[0].shape == (7, 4)  # too narrow: the caller sees the width


def test_presets_sizes():
    full = num_parameters(NoteSegmenter(**preset("gru_attention")))
    small = num_parameters(NoteSegmenter(**preset("simplified")))
    assert 1_000_000 < full < 2_000_000
    assert small * 3 < full


def test_parameter_count_follows_config():
    base = NoteSegmenter(hidden_dim=64, num_layers=1, num_heads=4)
    deeper = NoteSegmenter(hidden_dim=64, num_layers=2, num_heads=4)
    h, d = 64, 32  # width, units per GRU direction
    layer = 2 * (3 * d * h + 3 * d * d + 2 * 3 * d)  # one more bidirectional layer: W_ih, W_hh, 2 biases
    assert num_parameters(deeper) - num_parameters(base) == layer
    wider = NoteSegmenter(hidden_dim=128, num_layers=1, num_heads=4)
    assert num_parameters(wider) > num_parameters(base)
    assert num_parameters(base.encoder) == num_parameters(FrameEncoder(hidden_dim=64))


def test_all_parameters_registered_and_checkpoint_round_trip():
    torch.manual_seed(1)
    model = NoteSegmenter(**TINY)
    randomise_norm_stats(model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(2)  # a differently initialised fresh model
    fresh = NoteSegmenter(**TINY)
    x = torch.randn(2, 3, 24, 20)
    with torch.no_grad():
        assert not torch.allclose(fresh.eval()(x), model.eval()(x))
        fresh.load_state_dict(torch.load(buffer, weights_only=True))  # strict: same keys both ways
        torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        TINY,
        dict(TINY, num_layers=2, context=9),
        dict(TINY, pitch_head=True),
        dict(TINY, pitch_head=True, pitch_features=True),
    ],
)
def test_frame_shared_equals_per_window(kwargs):
    torch.manual_seed(0)
    model = NoteSegmenter(**kwargs)
    randomise_norm_stats(model)
    model.eval()
    k, length = model.context, 30
    chunk = torch.randn(2, 3, 24, length + 2 * k)
    with torch.no_grad():
        shared = model(chunk)  # (2, length, n_outputs)
        windows = chunk.unfold(3, 2 * k + 1, 1).permute(0, 3, 1, 2, 4).reshape(-1, 3, 24, 2 * k + 1)
        per_window = model.forward_windows(windows).reshape(2, length, model.n_outputs)
    assert shared.shape[-1] == (6 + 24 + 1 if kwargs.get("pitch_head") else 6)
    torch.testing.assert_close(shared, per_window, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layers, step", [(1, 1), (2, 1), (3, 2), (2, 5)])
def test_window_gru_equals_nn_gru_over_unfolded_windows(layers, step):
    torch.manual_seed(layers)
    gru = torch.nn.GRU(12, 5, layers, batch_first=True, bidirectional=True, dropout=0.3 if layers > 1 else 0.0).eval()
    enc = torch.randn(2, 23, 12)
    window = 7
    with torch.no_grad():
        windows = enc.unfold(1, window, step).permute(0, 1, 3, 2).reshape(-1, window, 12)
        expected, _ = gru(windows)
        got = window_gru(gru, enc, window, step)
    assert got.shape == expected.shape == (2 * len(range(23 - window + 1)[::step]), window, 10)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(got[:, 0], got[:, -1])  # both ends of the window carry real outputs


def test_centre_attention_equals_multihead_attention():
    torch.manual_seed(0)
    attention = torch.nn.MultiheadAttention(16, 4, dropout=0.5, batch_first=True).eval()
    with torch.no_grad():
        attention.in_proj_bias.normal_()  # non-zero key bias: must drop out of the softmax
        seq = torch.randn(9, 7, 16)
        centre = seq[:, 3]
        expected, _ = attention(centre[:, None], seq, seq, need_weights=False)
        got = centre_attention(attention, centre, seq)
    torch.testing.assert_close(got, expected[:, 0], rtol=1e-5, atol=1e-6)


def test_cpu_inference_path_is_the_eval_cpu_path_only():
    """Eval mode on CPU takes window_gru/centre_attention; train mode and ``reference`` take nn.GRU."""
    torch.manual_seed(0)
    model = NoteSegmenter(**dict(TINY, num_layers=2, pitch_head=True, pitch_features=True))
    randomise_norm_stats(model)
    chunk = torch.randn(1, 3, 24, 20)
    calls = []
    hook = model.gru.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        enc, logits = model.eval()._encode(chunk)
        fast = model.classify_encoded(enc, chunk, logits)
        assert not calls
        slow = model.classify_encoded(enc, chunk, logits, reference=True)
        assert len(calls) == 1
        model.train()(chunk)
        assert len(calls) == 2
    hook.remove()
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_channels_last_conv_stacks_equal_the_modules(training):
    """conv_stack_cl (the CPU training path) gives the modules' outputs, gradients and BatchNorm updates."""
    torch.manual_seed(0)
    model = NoteSegmenter(**dict(TINY, pitch_head=True, pitch_features=True)).train(training)
    randomise_norm_stats(model)
    for stack, channels in ((model.encoder.conv, 3), (model.pitch.branch, 3 * 4)):  # the branch reads 4 harmonics
        frames = torch.randn(40, channels, 24)
        twin = copy.deepcopy(stack)
        x1, x2 = frames.clone().requires_grad_(), frames.clone().requires_grad_()
        out, expected = conv_stack_cl(stack, x1), twin(x2)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
        weights = torch.randn_like(expected)
        (out * weights).sum().backward()
        (expected * weights).sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)
        for (name, a), b in zip(stack.named_parameters(), twin.parameters()):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4, msg=name)
        for (name, a), b in zip(stack.named_buffers(), twin.buffers()):  # running stats moved alike
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    with pytest.raises(TypeError, match="no channels-last form for Dropout"):
        conv_stack_cl(torch.nn.Sequential(torch.nn.Dropout()), frames)


def test_cpu_training_runs_the_channels_last_path_and_inference_the_modules():
    """With autograd on a CPU tensor the conv modules are not called (their weights are); without, they are."""
    torch.manual_seed(0)
    model = NoteSegmenter(**dict(TINY, pitch_head=True, pitch_features=True))
    chunk = torch.randn(2, 3, 24, 12)
    calls = []
    hooks = [
        m.register_forward_hook(lambda *args: calls.append(1))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv1d)
    ]
    model.train()(chunk).sum().backward()
    assert not calls and model.encoder.conv[0].weight.grad is not None
    with torch.no_grad():
        model.eval()(chunk)
    assert len(calls) == len(hooks)
    for hook in hooks:
        hook.remove()


def test_frame_shared_equals_per_window_default_model():
    torch.manual_seed(0)
    model = NoteSegmenter(**preset("gru_attention"))
    assert model.has_pitch_head
    randomise_norm_stats(model)
    model.eval()
    feats = np.random.default_rng(0).standard_normal((9, 174, 40)).astype(np.float32)
    frames = np.array([0, 3, 17, 38, 39])
    with torch.no_grad():
        per_window = model.forward_windows(torch.from_numpy(naive_windows(feats, frames, 9))).numpy()
    shared = predict_song(model, feats, segment_frames=16)
    np.testing.assert_allclose(shared[frames], per_window, rtol=1e-5, atol=1e-5)


def test_predict_song_chunk_size_independent_and_zero_padded():
    torch.manual_seed(0)
    model = NoteSegmenter(**TINY)
    randomise_norm_stats(model)
    model.train()
    feats = np.random.default_rng(1).standard_normal((3, 24, 50)).astype(np.float32)
    reference = predict_song(model, feats, segment_frames=1000)
    assert reference.shape == (50, 6) and reference.dtype == np.float32
    assert model.training  # mode restored
    threads = torch.get_num_threads()
    for n_threads in (1, 2):  # one chunk at a time, or one single-threaded worker per thread
        torch.set_num_threads(n_threads)
        try:
            for chunk in (1, 7, 16, 49, 50, None):
                np.testing.assert_allclose(
                    predict_song(model, feats, segment_frames=chunk), reference, rtol=1e-5, atol=1e-5
                )
                assert torch.get_num_threads() == n_threads and torch.is_grad_enabled()
        finally:
            torch.set_num_threads(threads)
    edges = np.array([0, 1, 2, 47, 48, 49])  # windows reaching past the song's edges
    with torch.no_grad():
        windows = torch.from_numpy(naive_windows(feats, edges, model.context))
        per_window = model.eval().forward_windows(windows).numpy()
    np.testing.assert_allclose(reference[edges], per_window, rtol=1e-5, atol=1e-5)
    assert predict_song(model, feats[:, :, :0]).shape == (0, 6)


def test_predict_song_rejects_wrong_layout():
    model = NoteSegmenter(**TINY)
    with pytest.raises(InputError, match=r"\(3, 24, T\)"):
        predict_song(model, np.zeros((3, 25, 10), dtype=np.float32))
    with pytest.raises(InputError, match="segment_frames"):
        predict_song(model, np.zeros((3, 24, 10), dtype=np.float32), segment_frames=0)


def test_forward_windows_rejects_wrong_window():
    with pytest.raises(ValueError, match="7 frames"):
        NoteSegmenter(**TINY).forward_windows(torch.zeros(2, 3, 24, 9))


@pytest.mark.slow
def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = NoteSegmenter(**dict(TINY, dropout=0.0))
    loss_fn = Sdt6Loss(onset_weight=3.0, offset_weight=3.0)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 3, 24, 32 + 6, generator=g)
    targets = (torch.rand(4, 32, 3, generator=g) < torch.tensor([0.5, 0.1, 0.1])).long()
    mask = torch.ones(4, 32, dtype=torch.bool)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(100):
        loss, _ = loss_fn(model(feats), targets, mask)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(hidden_dim=100, num_heads=8), "model.hidden_dim=100 is not divisible by model.num_heads=8"),
        (dict(hidden_dim=99, num_heads=3), "must be even"),
        (dict(hidden_dim=0), r"model.hidden_dim=0 must be a positive integer"),
        (dict(num_layers=-1), r"model.num_layers=-1 must be a positive integer"),
        (dict(num_heads=0), r"model.num_heads=0 must be a positive integer"),
        (dict(conv_channels=(32, 0)), r"model.conv_channels=0 must be a positive integer"),
        (dict(conv_channels=()), "at least one"),
        (dict(kernel_size=4), "must be odd"),
        (dict(context=-1), "model.context=-1"),
        (dict(dropout=1.0), r"model.dropout=1.0 must be in \[0, 1\)"),
        (dict(n_bins=7, conv_channels=(4, 4, 4)), "n_bins=7 is too small for 3 conv blocks"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        NoteSegmenter(**kwargs)


def test_pitch_features_feed_the_gru_and_need_the_head():
    torch.manual_seed(0)
    with_features = NoteSegmenter(**TINY, pitch_head=True, pitch_features=True)
    without = NoteSegmenter(**TINY, pitch_head=True)
    assert num_parameters(with_features) - num_parameters(without) == 24 * 16 + 16  # Linear(n_bins, hidden_dim)
    with_features.eval()
    chunk = torch.randn(1, 3, 24, 20)
    with torch.no_grad():
        before = with_features(chunk)[..., :6]
        with_features.pitch.branch[-1].bias += 1.0  # a constant shift of every bin logit: same softmax
        torch.testing.assert_close(with_features(chunk)[..., :6], before)
        with_features.pitch.branch[-1].weight.mul_(3.0)  # a sharper pitch distribution changes the sdt6 outputs
        assert not torch.allclose(with_features(chunk)[..., :6], before)
    with pytest.raises(InputError, match="pitch_features=true needs model.pitch_head=true"):
        NoteSegmenter(**TINY, pitch_features=True)


@pytest.mark.parametrize("pitch_head", [False, True])
def test_frame_step_classifies_every_nth_centre_frame(pitch_head):
    torch.manual_seed(0)
    model = NoteSegmenter(
        hidden_dim=32,
        num_layers=2,
        num_heads=4,
        conv_channels=[8],
        context=3,
        pitch_head=pitch_head,
        pitch_features=pitch_head,
    ).eval()
    chunk = torch.randn(2, 9, 174, 17 + 6)  # 17 centre frames
    with torch.no_grad():
        every = model(chunk)
        for step in (2, 3, 17, 40):
            some = model(chunk, frame_step=step)
            assert some.shape == (2, len(range(0, 17, step)), model.n_outputs)
            torch.testing.assert_close(some, every[:, ::step], rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="frame_step"):
        model(chunk, frame_step=0)
