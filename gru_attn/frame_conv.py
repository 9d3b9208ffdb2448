"""A minimal second architecture: the worked example of :mod:`gru_attn.contract`.

Each frame's (n_channels, n_bins) features are projected to ``hidden_dim`` (one linear
layer), then one temporal convolution of width ``2 * context + 1`` (no padding) and a
linear layer give the 6 sdt logits of every centre frame. Frame-shared by
construction; a few thousand parameters at the defaults. Configured by
``_target_: gru_attn.frame_conv.FrameConv`` (see ``tests/test_any_model.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from gru_attn.contract import N_SDT_LOGITS
from gru_attn.errors import InputError


class FrameConv(nn.Module):
    """(B, C, F, L + 2k) features -> (B, L, 6) logits; ``k = context``.

    Args:
        n_channels, n_bins: per-frame feature layout (9 x 174 for CFP).
        hidden_dim: width of the frame projection and of the temporal convolution.
        context: frames each side of a classified frame.
    """

    def __init__(self, n_channels: int = 9, n_bins: int = 174, hidden_dim: int = 16, context: int = 4):
        super().__init__()
        for name, value, least in (("hidden_dim", hidden_dim, 1), ("context", context, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InputError(f"model.{name}={value!r} must be an integer >= {least}")
        self.n_channels, self.n_bins, self.context = int(n_channels), int(n_bins), int(context)
        self.project = nn.Linear(self.n_channels * self.n_bins, hidden_dim)
        self.temporal = nn.Conv1d(hidden_dim, hidden_dim, kernel_size=2 * self.context + 1)
        self.out = nn.Linear(hidden_dim, N_SDT_LOGITS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, n = x.shape
        frames = torch.relu(self.project(x.permute(0, 3, 1, 2).reshape(b, n, c * f)))  # (B, L + 2k, H)
        hidden = torch.relu(self.temporal(frames.transpose(1, 2)))  # (B, H, L)
        return self.out(hidden.transpose(1, 2))  # (B, L, 6)
