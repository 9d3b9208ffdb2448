"""Checkpoints: atomic save, safe (``weights_only=True``) load, and what inference needs.

A checkpoint is a plain dict (tensors, numbers, strings, lists, dicts only, so it
loads with ``torch.load(..., weights_only=True)``):

- ``format``: :data:`FORMAT` (a checkpoint of another format is refused);
- ``model``: the model's ``state_dict``; ``model_config``: the model's ``_target_``
  (a class of the ``gru_attn`` package) and constructor arguments, plain data, so
  inference rebuilds it without Hydra (:mod:`gru_attn.contract`);
- ``feature_layout``: channels, frequency bins, context frames, hop, sample rate;
- ``decode``: the note-decoding settings; ``pitch_method``: the tracker for new audio
  (``inference.pitch_method`` of the config);
- ``optimizer`` / ``scheduler``: their ``state_dict`` (absent in inference-only files);
- ``epoch`` (completed epochs), ``history`` (per-epoch metrics), ``best`` (best value
  and epoch), ``rng`` (torch RNG states), ``config`` (the resolved run config).
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from gru_attn.errors import InputError
from gru_attn.files import atomic_path

FORMAT = "gru_attn/1"


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint saved by :func:`save_checkpoint` (``weights_only=True``).

    Raises :class:`InputError` naming the file when it is missing, not a torch file
    ("not a gru_attn checkpoint"), holds objects other than tensors and plain data
    ("holds objects that are refused"; they are never loaded), or is a torch file of
    another kind.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:  # a class or function: loading it could run code, so it is refused
            raise InputError(f"{path}: holds objects that are refused ({found.group(1)}); a gru_attn checkpoint "
                             "holds only tensors and plain data") from None
        raise InputError(f"{path}: not a gru_attn checkpoint (not a readable torch file)") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile, AttributeError, KeyError,
            IndexError, TypeError, UnicodeDecodeError):  # what torch raises for files that are not its own
        raise InputError(f"{path}: not a gru_attn checkpoint (not a readable torch file)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(f"{path}: not a gru_attn checkpoint (format {found!r}, expected {FORMAT!r})")
    for key in ("model", "model_config", "feature_layout"):
        if key not in state:
            raise InputError(f"{path}: checkpoint lacks {key!r}")
    return state


def load_weights(model: torch.nn.Module, weights, path) -> None:
    """``model.load_state_dict(weights)``; InputError naming ``path`` when they do not fit
    (another size or architecture), with the first mismatch torch reports."""
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        raise InputError(f"{path}: the weights do not fit the model its model_config describes "
                         f"({detail[:240]})") from None


def rng_state() -> dict:
    """Torch RNG states (CPU and every CUDA device) as plain tensors."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only where CUDA is present)."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
