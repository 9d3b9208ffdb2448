"""Torch device selection shared by training, feature extraction and inference."""

from __future__ import annotations

import torch

from gru_attn.errors import InputError


def resolve_device(spec: str | torch.device | None = "auto", option: str = "device") -> torch.device:
    """``auto`` (or None) -> ``cuda`` when available else ``cpu``; ``cpu``, ``cuda``, ``cuda:N`` as given.

    ``option`` names the setting in error messages (``trainer.device``, ``--device``).

    Raises:
        InputError: an unknown device, CUDA asked for on a machine without it, or a
            CUDA index beyond the visible devices.
    """
    if spec is None or str(spec) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = f"{option}={spec!s}: expected auto, cpu, cuda or cuda:N"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise InputError(expected) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{option}={spec!s}: CUDA is not available on this machine (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"{option}={spec!s}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif device.type != "cpu":
        raise InputError(expected)
    return device
