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

A checkpoint is untrusted input: before a model is built from it, :func:`check_model_weights`
builds the model its ``model_config`` describes on the ``meta`` device (shapes only, no
memory), refuses more than :data:`MAX_PARAMETERS` values, and compares every weight's shape
with the state dict; :func:`check_weights` refuses NaN or infinite weights. Shipped models
go through the same checks (they are loaded by the same code).
"""

from __future__ import annotations

import math
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from gru_attn.contract import DEFAULT_TARGET, build_from_config
from gru_attn.errors import InputError
from gru_attn.files import atomic_path, check_readable

# The largest model a checkpoint may describe: 100 M values (400 MB of float32; the default
# model has under 2 M). A crafted model_config asking for more is refused before anything is built.
MAX_PARAMETERS = 100_000_000
MAX_CONFIG_INT = 100_000  # no constructor argument of a model is a larger whole number

FORMAT = "gru_attn/1"
# The model shipped with the package (made by ``python -m gru_attn.package_model``): what
# transcribe and evaluate use without ``--ckpt``. Loaded with the checks of any checkpoint.
PACKAGED_MODEL = Path(__file__).resolve().parent / "weights" / "default.pt"


def default_checkpoint(option: str | None) -> Path:
    """``option`` (a ``--ckpt`` value) as a path, or the shipped :data:`PACKAGED_MODEL` when None;
    InputError when neither is there."""
    if option is not None:
        return Path(option)
    if not PACKAGED_MODEL.is_file():
        raise InputError(
            f"--ckpt: required (no packaged model at {PACKAGED_MODEL}; make one with python -m gru_attn.package_model)"
        )
    return PACKAGED_MODEL


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
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: checkpoint file not found")
    check_readable(path, "a checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:  # a class or function: loading it could run code, so it is refused
            raise InputError(
                f"{path}: holds objects that are refused ({found.group(1)}); a gru_attn checkpoint "
                "holds only tensors and plain data"
            ) from None
        raise InputError(f"{path}: not a gru_attn checkpoint (not a readable torch file)") from None
    except (
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
        zipfile.BadZipFile,
        AttributeError,
        KeyError,
        IndexError,
        TypeError,
        UnicodeDecodeError,
    ):  # what torch raises for files that are not its own
        raise InputError(f"{path}: not a gru_attn checkpoint (not a readable torch file)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(f"{path}: not a gru_attn checkpoint (format {found!r}, expected {FORMAT!r})")
    for key in ("model", "model_config", "feature_layout"):
        if key not in state:
            raise InputError(f"{path}: checkpoint lacks {key!r}")
    return state


def check_weights(weights, path) -> None:
    """InputError naming ``path`` unless ``weights`` is a state dict of at most
    :data:`MAX_PARAMETERS` finite values (names -> tensors)."""
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise InputError(f"{path}: the model weights are not a state dict (names -> tensors)")
    total = sum(v.numel() for v in weights.values())
    if total > MAX_PARAMETERS:
        raise InputError(
            f"{path}: the weights hold {total:,} values, more than the {MAX_PARAMETERS:,} a gru_attn model may have"
        )
    for name, value in weights.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            raise InputError(
                f"{path}: weight {name!r} holds NaN or infinite values (a diverged or damaged "
                "model); use an earlier checkpoint"
            )


def _check_config_numbers(config: dict, path) -> None:
    """InputError for a whole-number constructor argument above :data:`MAX_CONFIG_INT` (checked
    before the model is even built on the meta device)."""
    for key, value in config.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_CONFIG_INT:
                raise InputError(f"{path}: model_config.{key}={value!r} is out of range (at most {MAX_CONFIG_INT:,})")


def check_model_weights(config: dict, weights, path) -> None:
    """Compare a checkpoint's ``model_config`` with its ``weights`` before building the model.

    The model is built on the ``meta`` device (shapes, no memory); InputError naming ``path``
    when it would have more than :data:`MAX_PARAMETERS` values, when a weight is missing,
    unexpected or of another shape than the config implies, or when a weight is not finite.
    """
    config = {"_target_": DEFAULT_TARGET, **config}
    _check_config_numbers(config, path)
    check_weights(weights, path)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_from_config(config, path).state_dict().items()}
    total = sum(math.prod(shape) for shape in expected.values())
    if total > MAX_PARAMETERS:
        raise InputError(
            f"{path}: model_config describes a model of {total:,} values, more than the "
            f"{MAX_PARAMETERS:,} a gru_attn model may have"
        )
    for name, shape in expected.items():
        if name not in weights:
            raise InputError(f"{path}: the weights lack {name!r}, which the model its model_config describes has")
        if tuple(weights[name].shape) != shape:
            raise InputError(
                f"{path}: the weights do not fit the model its model_config describes "
                f"({name}: model_config gives shape {list(shape)}, the weights "
                f"{list(weights[name].shape)})"
            )
    extra = sorted(set(weights) - set(expected))
    if extra:
        raise InputError(
            f"{path}: the weights hold {extra[0]!r}, which the model its model_config describes "
            "lacks (another architecture)"
        )


def load_weights(model: torch.nn.Module, weights, path) -> None:
    """``model.load_state_dict(weights)``; InputError naming ``path`` when they do not fit
    (another size or architecture), with the first mismatch torch reports, or are not finite."""
    check_weights(weights, path)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        raise InputError(
            f"{path}: the weights do not fit the model its model_config describes ({detail[:240]})"
        ) from None


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
