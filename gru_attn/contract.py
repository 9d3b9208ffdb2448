"""The model contract: what any architecture must expose to train, transcribe and evaluate.

A model is a ``torch.nn.Module`` subclass defined inside the ``gru_attn`` package and
named in ``conf/model/<name>.yaml`` by ``_target_``; every other key of that file is
a constructor argument. Training adds the data's layout and records the whole
config (``_target_`` included) in every checkpoint; inference rebuilds the model
from it (:func:`build_from_config`), so a new architecture needs no code change
outside its own module and config.

This module also owns the output layout: its width (:data:`N_SDT_LOGITS`), the one
split of a model's outputs (:func:`split_logits`) and the reading of the pitch outputs
into Hz (:func:`model_pitch_contours`, on the CFP grid of :func:`gru_attn.cfp.bin_to_hz`).

Constructor
    accepts ``n_channels`` (9 CFP blocks) and ``n_bins`` (174 log-frequency bins per
    block) as keyword arguments, besides its own; raises ``InputError`` or
    ``ValueError`` for a bad value (one line naming the option).

Attributes
    ``context`` (int >= 0): frames each side of a classified frame (window ``2k + 1``);
    ``n_channels``, ``n_bins`` (int): the per-frame feature layout it takes;
    ``n_outputs`` (int, optional, default :data:`N_SDT_LOGITS`): values per frame.

``forward(x)``
    ``x``: a training chunk or an inference segment, (B, C, F, L + 2k) float32 z-scored features, ``C = n_channels``,
    ``F = n_bins``, ``k = context``, ``L >= 1``, zeros beyond a song's edges;
    returns (B, L, n_outputs) float logits of the L centre frames. The first
    :data:`N_SDT_LOGITS` (6) columns are the sdt6 logits, the pairs ``(silence, voiced),
    (not-onset, onset), (not-offset, offset)`` (:data:`gru_attn.labels.SDT6_NAMES`);
    any further columns are the pitch outputs below. Every reader of model outputs
    splits them with :func:`split_logits`.

``forward(x, frame_step=s)`` (optional)
    returns only centre frames ``0, s, 2s, ...``: (B, ceil(L / s), n_outputs), equal to
    ``forward(x)[:, ::s]``. ``trainer.frame_step`` > 1 needs it (training then classifies
    fewer windows per chunk); a model without it trains on every frame (with a warning).

Pitch output (optional)
    A model with ``has_pitch_head`` true returns ``6 + n_bins + 1`` values per frame:
    after the sdt6 logits, ``n_bins`` pitch logits over the CFP rows (row ``i`` at
    ``80 * 2 ** (i / 48)`` Hz, :func:`gru_attn.cfp.bin_to_hz`) and one pitch-voicing
    logit (:func:`model_pitch_contours` reads them); it is then trained on the
    true f0 and can serve ``inference.pitch_method=model``. Without it, note pitches come
    from a tracker (``praat``, ``world``, ``harvest``). A frame's logits
    must not depend on L or on where ``x`` starts (so inference in segments equals
    whole-song inference in eval mode).
"""

from __future__ import annotations

import importlib

import numpy as np
import torch
from scipy.special import expit

from gru_attn.cfp import bin_to_hz
from gru_attn.errors import InputError
from gru_attn.labels import SDT6_NAMES

N_SDT_LOGITS = len(SDT6_NAMES)  # 6: the sdt6 logits every model produces first
PITCH_INTERP_RADIUS = 2  # bins each side of the argmax in the model pitch's weighted average
PACKAGE = "gru_attn"  # models are built only from classes defined in this package
DEFAULT_TARGET = "gru_attn.model.NoteSegmenter"  # checkpoints written before targets were recorded


def model_class(target, source) -> type[torch.nn.Module]:
    """The ``torch.nn.Module`` subclass named by ``target`` ("gru_attn.<module>.<Class>").

    InputError naming ``source`` for a target outside :data:`PACKAGE` (nothing is
    imported then), one that does not exist, or one that is not a module class.
    """
    if not isinstance(target, str) or not target.startswith(PACKAGE + ".") or target.count(".") < 2:
        raise InputError(
            f"{source}: model _target_={target!r} is refused; models are built only from "
            f"classes of the {PACKAGE} package ({PACKAGE}.<module>.<Class>)"
        )
    module_name, _, class_name = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"{source}: model _target_={target!r}: cannot import {module_name} ({exc})") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise InputError(f"{source}: model _target_={target!r} is not a torch.nn.Module class")
    return cls


def build_from_config(config: dict, source) -> torch.nn.Module:
    """Build the model of a checkpoint's ``model_config`` (``_target_`` + constructor arguments).

    A config without ``_target_`` builds :data:`DEFAULT_TARGET`. InputError naming
    ``source`` when the target is refused or the arguments do not build it.
    """
    kwargs = dict(config)
    cls = model_class(kwargs.pop("_target_", DEFAULT_TARGET), source)
    try:
        return cls(**kwargs)
    except (InputError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: model_config cannot build the model ({exc})") from None


def n_outputs(model: torch.nn.Module) -> int:
    """Values per frame that ``model`` returns (``model.n_outputs``, default :data:`N_SDT_LOGITS`)."""
    return int(getattr(model, "n_outputs", N_SDT_LOGITS))


def check_model(model: torch.nn.Module, source) -> None:
    """InputError naming ``source`` unless ``model`` meets the contract of this module.

    Checks the attributes and runs one forward pass on a (1, C, F, 2k + 2) zero input
    (no gradients, eval mode, mode restored) expecting (1, 2, n_outputs) logits.
    """
    for name in ("context", "n_channels", "n_bins"):
        value = getattr(model, name, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(
                f"{source}: the model has {name}={value!r}; the model contract (gru_attn.contract) needs a whole number"
            )
    outputs = n_outputs(model)
    if outputs < N_SDT_LOGITS:
        raise InputError(f"{source}: the model has n_outputs={outputs}; at least {N_SDT_LOGITS} (the sdt6 logits)")
    k = model.context
    x = torch.zeros(1, model.n_channels, model.n_bins, 2 * k + 2)
    param = next(iter(model.parameters()), None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x if param is None else x.to(param.device))
    except Exception as exc:  # any failure of a foreign forward is a broken contract
        raise InputError(
            f"{source}: the model's forward fails on a (1, {model.n_channels}, {model.n_bins}, "
            f"{2 * k + 2}) input ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 2, outputs):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(
            f"{source}: the model's forward returns {shape} for a (1, C, F, 2k + 2) input; "
            f"the contract needs (1, 2, {outputs})"
        )


# --------------------------------------------------------------------------- the output layout


def split_logits(logits):
    """(..., n_outputs) model outputs -> (sdt6 (..., 6), pitch bins (..., n_bins) or None, voicing (...,) or None).

    Works on torch tensors and numpy arrays alike (views, no copy). Outputs with fewer
    than ``6 + 2`` columns have no pitch part (None, None); the sdt6 part is then the
    first 6 columns (fewer when the input is narrower: callers check its width).
    """
    if logits.shape[-1] < N_SDT_LOGITS + 2:
        return logits[..., :N_SDT_LOGITS], None, None
    return logits[..., :N_SDT_LOGITS], logits[..., N_SDT_LOGITS:-1], logits[..., -1]


def pitch_from_logits(bin_logits, voicing_logits, voicing_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Model pitch: (T, n_bins) bin logits + (T,) voicing logits -> (f0 Hz (T,), voiced (T,) bool).

    The f0 of every frame (voiced or not) is the softmax-weighted mean bin index over
    the argmax +- :data:`PITCH_INTERP_RADIUS` bins (finer than a bin), converted to Hz
    on the CFP grid; ``voiced`` is ``sigmoid(voicing) >= voicing_threshold``.
    """
    z = np.asarray(bin_logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] != np.shape(voicing_logits)[0]:
        raise ValueError(
            f"pitch_from_logits: expected (T, bins) and (T,), got {z.shape} and {np.shape(voicing_logits)}"
        )
    n_bins = z.shape[1]
    offsets = np.argmax(z, axis=1)[:, None] + np.arange(-PITCH_INTERP_RADIUS, PITCH_INTERP_RADIUS + 1)
    idx = np.clip(offsets, 0, n_bins - 1)
    local = np.take_along_axis(z, idx, axis=1)
    w = np.exp(local - local.max(axis=1, keepdims=True)) * ((offsets >= 0) & (offsets < n_bins))
    bins = (w * idx).sum(axis=1) / w.sum(axis=1)
    voiced = expit(np.asarray(voicing_logits, dtype=np.float64)) >= voicing_threshold
    return bin_to_hz(bins), voiced


def model_pitch_contours(logits, voicing_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(T, 6 + n_bins + 1) model logits -> (contour, fallback), both (T,) Hz.

    ``contour``: the head's f0 on frames it calls voiced, 0 elsewhere; ``fallback``: its
    f0 on every frame, for notes with no head-voiced frame (see
    :func:`gru_attn.decode.decode_notes`). ValueError for outputs without a pitch head.
    """
    logits = np.asarray(logits)
    _, bins, voicing = split_logits(logits)
    if logits.ndim != 2 or bins is None:
        raise ValueError(f"model_pitch_contours: expected (T, {N_SDT_LOGITS} + bins + 1) logits, got {logits.shape}")
    f0, voiced = pitch_from_logits(bins, voicing, voicing_threshold)
    return np.where(voiced, f0, 0.0), f0
