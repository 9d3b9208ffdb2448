"""The note-segmentation network and song-level inference.

The model classifies every frame from a window of ``2 * context + 1`` frames
(19 by default) centred on it; each frame is a ``(n_channels, n_bins)`` slice of
the CFP features (9 blocks x 174 log-frequency bins). It outputs 6 logits, the
three two-way pairs of :data:`gru_attn.labels.SDT6_NAMES` (the output layout is
:mod:`gru_attn.contract`'s).

Layers, in order:

1. :class:`FrameEncoder`: a Conv1d stack over frequency, applied to each frame on
   its own, then a linear projection to ``hidden_dim``;
2. a bidirectional GRU over the window's 19 encoded frames (``hidden_dim // 2``
   units per direction, ``num_layers`` layers, dropout between layers);
3. multi-head attention from the centre frame over the 19 GRU outputs, with a
   residual connection and LayerNorm (this is the centre row of full
   self-attention over the window, computed without the 18 rows that are discarded);
4. a classifier (Linear -> ReLU -> Dropout -> Linear) to 6 logits;
5. optional (``pitch_head=True``) pitch head, :class:`PitchHead`: 174 logits over the
   CFP log-frequency bins (bin ``i`` at ``80 * 2**(i / 48)`` Hz, 25 cents apart) and
   one pitch-voicing logit. A small frequency-preserving conv branch reads the centre
   frame (and copies of it shifted down by the 2nd-4th harmonic's distance, so a bin
   sees its harmonics) without pooling; the attended context vector adds a per-bin
   bias and gives the voicing logit. The model then outputs ``6 + 174 + 1 = 181``
   logits per frame (:func:`gru_attn.contract.split_logits`). Cost: 49,184 parameters on
   ``gru_attention`` (1,300,710 -> 1,349,894), 26,784 on ``simplified``; 0.77 M
   multiply-adds per frame (``gru_attention`` 16.7 -> 17.5 M, ``simplified`` 2.7 -> 3.4 M).
6. optional (``pitch_features=True``, on in both presets): the branch runs on every
   frame of the chunk, and the softmax of its bin logits, projected to ``hidden_dim``
   (Linear), is added to each frame's encoding before the GRU, so the window's fine
   pitch track reaches the note decisions. Cost: ``n_bins * hidden_dim + hidden_dim``
   parameters (44,800 on ``gru_attention``, 22,400 on ``simplified``).

Frame sharing: neighbouring windows overlap in 18 of 19 frames, so
:meth:`NoteSegmenter.forward` encodes each frame of a chunk once and gathers the
windows from the encoded sequence (a strided view); only the GRU and attention run
per window. :meth:`NoteSegmenter.forward_windows` is the per-window reference path
(every frame of every window encoded, ``nn.GRU`` and ``nn.MultiheadAttention``); both
agree in eval mode.

CPU inference (eval mode on CPU) computes the same windows with less work
(:func:`window_gru`, :func:`centre_attention`): the first GRU layer's input gates
are computed once per frame instead of once per window and frame (19x fewer), and
the attention folds its key and value projections into the single query, so the 19
keys and values of a window are never projected. Same result to float32 round-off
(about 1e-6); training and CUDA run the ``torch.nn`` modules.

CPU training (autograd on, CPU tensors) runs the two frequency conv stacks
(:class:`FrameEncoder`, :class:`PitchHead`'s branch) in a channels-last layout: each
frame as a ``(C, 1, F)`` image with channels innermost, through ``conv2d`` with the
``Conv1d`` weights, ``max_pool2d`` and ``batch_norm`` (:func:`conv_stack_cl`). oneDNN's
backward convolution and the max-pool that records its indices run faster there: a
default training epoch took 0.88x the time on 2 cores (``benchmarks/bench_train.py``
times both layouts).
Same parameters, same values to float32 round-off; inference keeps the ``(N, C, F)``
layout, which is as fast without autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from gru_attn.cfp import BINS_PER_OCTAVE
from gru_attn.contract import N_SDT_LOGITS, n_outputs
from gru_attn.devices import single_thread_workers
from gru_attn.errors import InputError

# bins from f0 to its 1st..4th harmonic on the CFP grid (48 log2 h, rounded): (0, 48, 76, 96)
HARMONIC_SHIFTS = tuple(round(BINS_PER_OCTAVE * math.log2(h)) for h in (1, 2, 3, 4))
CPU_SEGMENT_FRAMES = 512  # most frames per inference segment on CPU (segments shared out among the cores)
CUDA_SEGMENT_FRAMES = 1024  # frames per inference segment on CUDA (fewer, larger kernels)


def window_gru(gru: nn.GRU, enc: torch.Tensor, window: int, step: int = 1) -> torch.Tensor:
    """Run the bidirectional ``gru`` (``batch_first``, with biases) over every window of ``enc``.

    ``enc`` (B, L, H) encoded frames -> (B * n, window, 2 * gru.hidden_size) outputs, the
    windows starting at frames 0, step, 2 step, ... (``n = ceil((L - window + 1) / step)``),
    in the order and with the values of ``gru(enc.unfold(1, window, step)...)`` in eval
    mode (no dropout between layers), to float32 round-off. The first layer's input
    gates are computed once per frame and shared by the windows that contain it; later
    layers' inputs differ per window. The GRU cell is PyTorch's (``r``, ``z``, ``n`` gates,
    ``h' = (1 - z) n + z h``), with ``b_hr`` and ``b_hz`` folded into the input gates.
    """
    b, length, _ = enc.shape
    n = len(range(length - window + 1)[::step])
    hh = gru.hidden_size
    out = enc
    for layer in range(gru.num_layers):
        names = [f"_l{layer}", f"_l{layer}_reverse"]
        b_hh = [getattr(gru, "bias_hh" + name) for name in names]
        # weights as contiguous (in, out) matrices: MKL's GEMMs run faster on them than on transposed views
        w_ih = torch.cat([getattr(gru, "weight_ih" + name) for name in names]).t().contiguous()  # (H_in, 6 hh)
        b_ih = [getattr(gru, "bias_ih" + name) for name in names]
        b_ih = torch.cat([torch.cat([bi[: 2 * hh] + bh[: 2 * hh], bi[2 * hh :]]) for bi, bh in zip(b_ih, b_hh)])
        x = out if layer else enc
        gates = torch.addmm(b_ih, x.reshape(-1, x.shape[-1]), w_ih).reshape(*x.shape[:2], -1)  # (B, L | B n, W, 6 hh)
        out = enc.new_empty(b * n, window, 2 * hh)
        for d, name in enumerate(names):
            w_hh = getattr(gru, "weight_hh" + name).t().contiguous()  # (hh, 3 hh)
            b_hn = b_hh[d][2 * hh :]
            cols = slice(3 * hh * d, 3 * hh * (d + 1))
            h = None
            for t in reversed(range(window)) if d else range(window):
                if layer:
                    g = gates[:, t, cols]  # (B n, 3 hh)
                else:  # window i holds frame i * step + t
                    g = gates[:, t : t + step * (n - 1) + 1 : step, cols].reshape(b * n, 3 * hh)
                h_out = out[:, t, d * hh : (d + 1) * hh]  # written in place: the next step's h
                if h is None:  # the first step starts from h = 0: W_hh h = 0
                    rz = torch.sigmoid(g[:, : 2 * hh])
                    new = torch.tanh(torch.addcmul(g[:, 2 * hh :], rz[:, :hh], b_hn))
                    h = torch.mul(1 - rz[:, hh:], new, out=h_out)
                else:
                    gh = torch.mm(h, w_hh)
                    rz = torch.sigmoid(g[:, : 2 * hh] + gh[:, : 2 * hh])
                    new = torch.tanh(torch.addcmul(g[:, 2 * hh :], rz[:, :hh], gh[:, 2 * hh :] + b_hn))
                    h = torch.lerp(new, h, rz[:, hh:], out=h_out)
    return out


def centre_attention(attention: nn.MultiheadAttention, centre: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
    """``attention(centre, seq, seq)`` in eval mode: centre (N, H) queries over seq (N, W, H) -> (N, H).

    Folds the key and value projections into the query instead of projecting the ``W``
    keys and values: per head, ``q . (W_k s + b_k) = (W_k^T q) . s + const`` (a constant
    drops out of the softmax) and ``sum_j a_j (W_v s_j + b_v) = W_v (sum_j a_j s_j) + b_v``.
    Needs packed projections with biases, no ``bias_k``/``add_zero_attn``.
    """
    n, w, h = seq.shape
    heads = attention.num_heads
    d = h // heads
    w_q, w_k, w_v = attention.in_proj_weight.chunk(3)
    b_q, _, b_v = attention.in_proj_bias.chunk(3)
    q = nn.functional.linear(centre, w_q, b_q).reshape(n, heads, d).transpose(0, 1)  # (heads, N, d)
    q_keys = torch.bmm(q, w_k.reshape(heads, d, h)).transpose(0, 1) / math.sqrt(d)  # (N, heads, H)
    weights = torch.softmax(torch.bmm(q_keys, seq.transpose(1, 2)), dim=-1)  # (N, heads, W)
    mixed = torch.bmm(weights, seq).transpose(0, 1)  # (heads, N, H)
    ctx = torch.bmm(mixed, w_v.reshape(heads, d, h).transpose(1, 2))  # (heads, N, d)
    ctx = ctx.transpose(0, 1).reshape(n, h) + b_v
    return attention.out_proj(ctx)


def batch_norm_cl(bn: nn.BatchNorm1d, h: torch.Tensor) -> torch.Tensor:
    """``bn(h)`` for (N, C, 1, F) input: per-channel statistics over N and F, running
    statistics and ``num_batches_tracked`` updated as ``nn.BatchNorm1d`` updates them."""
    momentum = bn.momentum
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        if momentum is None:  # cumulative moving average
            momentum = 1.0 / float(bn.num_batches_tracked)
    use_batch = bn.training or bn.running_mean is None
    return nn.functional.batch_norm(
        h, bn.running_mean, bn.running_var, bn.weight, bn.bias, use_batch, momentum or 0.0, bn.eps
    )


def conv_stack_cl(layers: nn.Sequential, frames: torch.Tensor) -> torch.Tensor:
    """``layers(frames)`` in the channels-last layout: (N, C, F) -> (N, C', F') (a view of channels-last memory).

    ``layers`` holds ``nn.Conv1d``, ``nn.MaxPool1d(2)``, ``nn.BatchNorm1d`` and ``nn.ReLU``
    modules (those of :class:`FrameEncoder` and :class:`PitchHead`); each frame runs as a
    (C, 1, F) image with the channels innermost.
    """
    h = frames.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    for layer in layers:
        if isinstance(layer, nn.Conv1d):  # the same weights as a (C_out, C_in, 1, k) kernel
            h = nn.functional.conv2d(
                h, layer.weight.unsqueeze(2), layer.bias, stride=(1, layer.stride[0]), padding=(0, layer.padding[0])
            )
        elif isinstance(layer, nn.MaxPool1d):
            h = nn.functional.max_pool2d(h, (1, layer.kernel_size), (1, layer.stride))
        elif isinstance(layer, nn.BatchNorm1d):
            h = batch_norm_cl(layer, h)
        elif isinstance(layer, nn.ReLU):
            h = torch.relu(h)
        else:
            raise TypeError(f"conv_stack_cl: no channels-last form for {type(layer).__name__}")
    return h[:, :, 0]


def cpu_training(x: torch.Tensor) -> bool:
    """Whether ``x`` runs the channels-last training path: a CPU tensor with autograd on."""
    return x.device.type == "cpu" and torch.is_grad_enabled()


def _check_positive(name: str, value) -> int:
    """``value`` as an int, or InputError naming ``model.<name>`` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InputError(f"model.{name}={value!r} must be a positive integer")
    return int(value)


class FrameEncoder(nn.Module):
    """Encode one frame ``(n_channels, n_bins)`` -> ``(hidden_dim,)``.

    Each conv block is Conv1d over frequency (``kernel_size``, same padding) ->
    MaxPool1d(2) -> BatchNorm1d -> ReLU (pooling first halves the memory-bound
    elementwise work), so the frequency axis halves per block (174 -> 87 -> 43 -> 21
    for three blocks). The flattened output feeds Linear -> ReLU; the Linear input
    size is computed here from ``n_bins``, so every layer exists (and is in the
    ``state_dict``) from construction.

    BatchNorm normalises over all frames of the batch in train mode and uses its
    running statistics in eval mode, where a frame's encoding depends on that
    frame alone (chunked and per-window encoding give the same result).
    """

    def __init__(
        self,
        n_channels: int = 9,
        n_bins: int = 174,
        conv_channels: Sequence[int] = (32, 64, 64),
        kernel_size: int = 5,
        hidden_dim: int = 256,
    ):
        super().__init__()
        n_channels = _check_positive("n_channels", n_channels)
        n_bins = _check_positive("n_bins", n_bins)
        kernel_size = _check_positive("kernel_size", kernel_size)
        hidden_dim = _check_positive("hidden_dim", hidden_dim)
        conv_channels = [_check_positive("conv_channels", c) for c in (conv_channels or ())]
        if not conv_channels:
            raise InputError("model.conv_channels must list at least one positive channel count")
        if kernel_size % 2 == 0:
            raise InputError(f"model.kernel_size={kernel_size} must be odd (same padding over frequency)")
        min_bins = 2 ** len(conv_channels)
        if n_bins < min_bins:
            raise InputError(
                f"n_bins={n_bins} is too small for {len(conv_channels)} conv blocks "
                f"(each halves the frequency axis): need at least {min_bins} bins"
            )
        layers, c_in, bins = [], n_channels, n_bins
        for c_out in conv_channels:
            layers += [
                nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
                nn.MaxPool1d(2),
                nn.BatchNorm1d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in, bins = c_out, bins // 2
        self.n_channels, self.n_bins, self.hidden_dim = n_channels, n_bins, hidden_dim
        self.conv = nn.Sequential(*layers)
        self.flat_dim = c_in * bins
        self.proj = nn.Sequential(nn.Linear(self.flat_dim, hidden_dim), nn.ReLU(inplace=True))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, n_channels, n_bins) frames -> (B, hidden_dim)."""
        conv = conv_stack_cl(self.conv, frames) if cpu_training(frames) else self.conv(frames)
        return self.proj(conv.flatten(1))


class PitchHead(nn.Module):
    """Per-frame pitch logits over the frequency bins plus a voicing logit.

    ``forward(frames, context)``: frames (N, C, F) (the classified frames' features),
    context (N, H) (the attended centre vectors) -> (N, F + 1) logits: F bin logits,
    then the voicing logit. The branch stacks each frame with copies shifted by
    :data:`HARMONIC_SHIFTS` bins (zero-filled), then Conv1d(k=5) -> ReLU -> Conv1d(k=5)
    -> ReLU -> Conv1d(k=1) over frequency, keeping all F bins.
    """

    def __init__(self, n_channels: int, n_bins: int, hidden_dim: int, channels: int = 16):
        super().__init__()
        c_in = n_channels * len(HARMONIC_SHIFTS)
        self.branch = nn.Sequential(
            nn.Conv1d(c_in, channels, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv1d(channels, channels, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv1d(channels, 1, 1),
        )
        self.bias = nn.Linear(hidden_dim, n_bins)
        self.voicing = nn.Linear(hidden_dim, 1)

    def frame_logits(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, C, F) frames -> (N, F) bin logits of the frequency branch alone (no context)."""
        n_bins = frames.shape[-1]
        stack = [frames] + [nn.functional.pad(frames[..., s:], (0, s)) for s in HARMONIC_SHIFTS[1:] if s < n_bins]
        stack += [torch.zeros_like(frames)] * (len(HARMONIC_SHIFTS) - len(stack))
        stack = torch.cat(stack, dim=1)
        return (conv_stack_cl(self.branch, stack) if cpu_training(stack) else self.branch(stack))[:, 0]

    def forward(
        self, frames: torch.Tensor, context: torch.Tensor, frame_logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``frame_logits``: :meth:`frame_logits` of ``frames`` when already computed."""
        if frame_logits is None:
            frame_logits = self.frame_logits(frames)
        bins = frame_logits + self.bias(context)
        return torch.cat([bins, self.voicing(context)], dim=-1)


class NoteSegmenter(nn.Module):
    """Frame encoder -> GRU over the 19-frame window -> attention -> 6 logits.

    Args:
        n_channels, n_bins: feature layout of one frame (9 CFP blocks x 174 bins).
        hidden_dim: width of the frame encoding, GRU output (both directions) and
            attention; must be even and divisible by ``num_heads``.
        num_layers: GRU layers; num_heads: attention heads.
        conv_channels, kernel_size: the :class:`FrameEncoder` conv stack.
        dropout: between GRU layers, on attention weights, and in the classifier.
        context: frames each side of the classified frame (window ``2 * context + 1``).
        pitch_head: add the :class:`PitchHead` (181 outputs per frame instead of 6);
            False builds the model of checkpoints from before the head.
        pitch_features: (needs ``pitch_head``) add each frame's pitch distribution
            (softmax of the head's frequency branch, projected to ``hidden_dim``) to
            its encoding, so the GRU sees the fine pitch track of the window (a pitch
            move is a note boundary in legato lines and melismas); False builds the
            model of checkpoints from before this input.

    Raises:
        InputError: a size that is not a positive integer, ``hidden_dim`` odd or
            not divisible by ``num_heads``, ``dropout`` outside [0, 1), or
            ``n_bins`` too small for the conv stack.
    """

    def __init__(
        self,
        n_channels: int = 9,
        n_bins: int = 174,
        hidden_dim: int = 256,
        num_layers: int = 2,
        num_heads: int = 8,
        conv_channels: Sequence[int] = (32, 64, 64),
        kernel_size: int = 5,
        dropout: float = 0.1,
        context: int = 9,
        pitch_head: bool = False,
        pitch_features: bool = False,
    ):
        super().__init__()
        hidden_dim = _check_positive("hidden_dim", hidden_dim)
        num_layers = _check_positive("num_layers", num_layers)
        num_heads = _check_positive("num_heads", num_heads)
        if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
            raise InputError(f"model.context={context!r} must be an integer >= 0")
        if hidden_dim % num_heads:
            raise InputError(f"model.hidden_dim={hidden_dim} is not divisible by model.num_heads={num_heads}")
        if hidden_dim % 2:
            raise InputError(
                f"model.hidden_dim={hidden_dim} must be even "
                "(the bidirectional GRU has hidden_dim / 2 units per direction)"
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"model.dropout={dropout!r} must be in [0, 1)")
        if pitch_features and not pitch_head:
            raise InputError("model.pitch_features=true needs model.pitch_head=true (the features come from the head)")
        self.context = int(context)
        self.window = 2 * self.context + 1
        self.encoder = FrameEncoder(n_channels, n_bins, conv_channels, kernel_size, hidden_dim)
        self.gru = nn.GRU(
            hidden_dim,
            hidden_dim // 2,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=float(dropout) if num_layers > 1 else 0.0,
        )
        self.attention = nn.MultiheadAttention(hidden_dim, num_heads, dropout=float(dropout), batch_first=True)
        self.norm = nn.LayerNorm(hidden_dim)
        self.classifier = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(float(dropout)),
            nn.Linear(hidden_dim, N_SDT_LOGITS),
        )
        self.pitch = PitchHead(n_channels, n_bins, hidden_dim) if pitch_head else None
        self.pitch_embed = nn.Linear(n_bins, hidden_dim) if pitch_features else None

    @property
    def has_pitch_head(self) -> bool:
        return self.pitch is not None

    @property
    def n_outputs(self) -> int:
        """Logits per frame: 6, or ``6 + n_bins + 1`` (181) with the pitch head."""
        return N_SDT_LOGITS + self.n_bins + 1 if self.has_pitch_head else N_SDT_LOGITS

    @property
    def n_channels(self) -> int:
        return self.encoder.n_channels

    @property
    def n_bins(self) -> int:
        return self.encoder.n_bins

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, C, F, L) features -> (B, L, H) frame encodings (each frame encoded once)."""
        return self._encode(feats)[0]

    def _encode(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, C, F, L) -> (encodings (B, L, H), pitch-branch logits (B, L, F) or None without pitch features)."""
        b, c, f, n = feats.shape
        frames = feats.permute(0, 3, 1, 2).reshape(b * n, c, f)
        enc = self.encoder(frames)
        if self.pitch_embed is None:
            return enc.reshape(b, n, -1), None
        frame_logits = self.pitch.frame_logits(frames)
        enc = enc + self.pitch_embed(torch.softmax(frame_logits, dim=-1))
        return enc.reshape(b, n, -1), frame_logits.reshape(b, n, f)

    def classify_encoded(
        self,
        enc: torch.Tensor,
        feats: torch.Tensor | None = None,
        frame_logits: torch.Tensor | None = None,
        frame_step: int = 1,
        reference: bool = False,
    ) -> torch.Tensor:
        """(B, L, H) encodings -> (B, n, n_outputs) logits of the full windows, ``n = L - 2 * context``.

        The windows are a strided view of ``enc`` (``unfold``); the GRU and the
        attention then run over the ``B * n`` windows. The pitch head also needs the
        chunk's features ``feats`` (B, C, F, L); ``frame_logits`` (B, L, F), from
        :meth:`_encode`, saves recomputing its frequency branch. ``frame_step`` > 1
        classifies only every ``frame_step``-th centre frame (0, s, 2s, ...):
        ``n = ceil((L - 2 * context) / frame_step)``. In eval mode on CPU the windows run
        through :func:`window_gru` and :func:`centre_attention` unless ``reference`` (then,
        as in training and on CUDA, through ``nn.GRU`` and ``nn.MultiheadAttention``).
        """
        b, n, h = enc.shape
        if n - 2 * self.context <= 0:
            raise ValueError(f"need more than {2 * self.context} encoded frames, got {n}")
        frame_step = _check_positive("frame_step", frame_step)
        centres = slice(self.context, n - self.context, frame_step)
        n_out = len(range(n - 2 * self.context)[::frame_step])
        if reference or self.training or enc.device.type != "cpu":
            windows = enc.unfold(1, self.window, frame_step)  # (B, n, H, W) view
            seq, _ = self.gru(windows.permute(0, 1, 3, 2).reshape(b * n_out, self.window, h))  # (N, W, H)
            centre = seq[:, self.context : self.context + 1]  # (N, 1, H)
            attended, _ = self.attention(centre, seq, seq, need_weights=False)
            x = self.norm(centre + attended)[:, 0]
        else:  # CPU inference: the same windows with shared first-layer gates, folded attention
            seq = window_gru(self.gru, enc, self.window, frame_step)  # (N, W, H)
            centre = seq[:, self.context]  # (N, H)
            x = self.norm(centre + centre_attention(self.attention, centre, seq))
        sdt = self.classifier(x)
        if self.pitch is None:
            return sdt.reshape(b, n_out, N_SDT_LOGITS)
        if feats is None:
            raise ValueError("the pitch head needs the chunk's features: classify_encoded(enc, feats)")
        centre_frames = feats[..., centres].permute(0, 3, 1, 2)
        if frame_logits is not None:
            frame_logits = frame_logits[:, centres].reshape(b * n_out, -1)
        pitch = self.pitch(centre_frames.reshape(b * n_out, *feats.shape[1:3]), x, frame_logits)
        return torch.cat([sdt, pitch], dim=-1).reshape(b, n_out, -1)

    def forward(self, chunk: torch.Tensor, frame_step: int = 1) -> torch.Tensor:
        """(B, C, F, L + 2 * context) chunk -> (B, L, n_outputs) logits of its L centre frames (frame-shared).

        ``frame_step`` > 1: only centre frames 0, s, 2s, ... (``ceil(L / s)`` of them;
        training with ``trainer.frame_step``).
        """
        enc, frame_logits = self._encode(chunk)
        return self.classify_encoded(enc, chunk, frame_logits, frame_step)

    def forward_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, C, F, 2 * context + 1) windows -> (N, n_outputs) logits (reference path: every window
        encoded whole, through ``nn.GRU`` and ``nn.MultiheadAttention``)."""
        if windows.shape[-1] != self.window:
            raise ValueError(f"windows must have {self.window} frames, got {windows.shape[-1]}")
        enc, frame_logits = self._encode(windows)
        return self.classify_encoded(enc, windows, frame_logits, reference=True)[:, 0]


def num_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_song_features(model: NoteSegmenter, feats) -> torch.Tensor:
    """``feats`` as a float32 CPU tensor (C, F, T) matching the model, or InputError."""
    feats = torch.as_tensor(feats)
    expected = (model.n_channels, model.n_bins)
    if feats.ndim != 3 or tuple(feats.shape[:2]) != expected:
        raise InputError(
            f"song features have shape {tuple(feats.shape)}; the model expects ({expected[0]}, {expected[1]}, T)"
        )
    return feats.to(torch.float32)


def predict_song(model: NoteSegmenter, feats, segment_frames: int | None = None, device="cpu") -> np.ndarray:
    """Logits of every frame of one song: (C, F, T) features -> (T, n_outputs) float32 numpy array
    (6 sdt6 logits, then with the pitch head 174 pitch-bin logits and the voicing logit).

    Runs the frame-shared path in eval mode without gradients, ``segment_frames`` frames
    at a time (None: on CUDA :data:`CUDA_SEGMENT_FRAMES`; on CPU at most
    :data:`CPU_SEGMENT_FRAMES`, the song cut into a multiple of the workers' count of
    equal segments so that no worker idles while another finishes; each segment also
    reads ``model.context`` frames either side, zeros beyond the song's edges, as in
    training), so memory stays bounded on long songs and the result does not depend on
    ``segment_frames``. On CPU the segments run on one single-threaded worker per torch
    thread (:func:`gru_attn.devices.single_thread_workers`). Moves ``model`` to
    ``device``; restores its train/eval mode afterwards.
    """
    device = torch.device(device)
    feats = _check_song_features(model, feats)
    k, n_frames = model.context, feats.shape[-1]
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    if segment_frames is None and device.type == "cpu":
        rounds = max(1, math.ceil(n_frames / (threads * CPU_SEGMENT_FRAMES)))
        segment_frames = max(1, math.ceil(n_frames / (threads * rounds)))
    elif segment_frames is None:
        segment_frames = CUDA_SEGMENT_FRAMES
    segment_frames = _check_positive("segment_frames", segment_frames)
    padded = torch.nn.functional.pad(feats, (k, k))
    starts = range(0, n_frames, segment_frames)

    def run(start: int) -> torch.Tensor:
        with torch.no_grad():  # grad mode is per thread
            segment = padded[None, :, :, start : min(start + segment_frames, n_frames) + 2 * k].to(device)
            return model(segment)[0].float().cpu()

    was_training = model.training
    model.to(device).eval()
    workers = min(threads, len(starts))
    try:
        if workers > 1:
            with single_thread_workers(workers) as pool:
                out = list(pool.map(run, starts))
        else:
            out = [run(start) for start in starts]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, n_outputs(model)), dtype=np.float32)
