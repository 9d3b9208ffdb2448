"""The model contract: what any architecture must expose to train, transcribe and evaluate.

A model is a ``torch.nn.Module`` subclass defined inside the ``gru_attn`` package and
named in ``conf/model/<name>.yaml`` by ``_target_``; every other key of that file is
a constructor argument. Training adds the data's layout and records the whole
config (``_target_`` included) in every checkpoint; inference rebuilds the model
from it (:func:`build_from_config`), so a new architecture needs no code change
outside its own module and config.

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
    returns (B, L, n_outputs) float logits of the L centre frames. Columns
    ``0:6`` are the sdt6 logits, the pairs ``(silence, voiced), (not-onset, onset),
    (not-offset, offset)`` (:data:`gru_attn.labels.SDT6_NAMES`). Columns from 6 on
    are optional extra outputs; code that needs only the notes' boundaries reads
    ``[..., :6]``.

``forward(x, frame_step=s)`` (optional)
    returns only centre frames ``0, s, 2s, ...``: (B, ceil(L / s), n_outputs), equal to
    ``forward(x)[:, ::s]``. ``trainer.frame_step`` > 1 needs it (training then classifies
    fewer windows per chunk); a model without it trains on every frame (with a warning).

Pitch output (optional)
    A model with ``has_pitch_head`` true returns ``6 + n_bins + 1`` values per frame:
    after the sdt6 logits, ``n_bins`` pitch logits over the CFP bins (bin ``i`` at
    ``80 * 2 ** (i / 48)`` Hz) and one pitch-voicing logit
    (:func:`gru_attn.decode.model_pitch_contours` reads them); it is then trained on the
    true f0 and can serve ``inference.pitch_method=model``. Without it, note pitches come
    from a tracker (``praat``, ``world``, ``harvest``). A frame's logits
    must not depend on L or on where ``x`` starts (so inference in segments equals
    whole-song inference in eval mode).
"""

from __future__ import annotations

import importlib

import torch

from gru_attn.errors import InputError

N_SDT_LOGITS = 6  # the sdt6 logits every model produces first
PACKAGE = "gru_attn"  # models are built only from classes defined in this package
DEFAULT_TARGET = "gru_attn.model.NoteSegmenter"  # checkpoints written before targets were recorded
MODEL_METHOD = "model"  # the pitch method that reads the model's pitch head (not an audio tracker)


def model_class(target, source) -> type[torch.nn.Module]:
    """The ``torch.nn.Module`` subclass named by ``target`` ("gru_attn.<module>.<Class>").

    InputError naming ``source`` for a target outside :data:`PACKAGE` (nothing is
    imported then), one that does not exist, or one that is not a module class.
    """
    if not isinstance(target, str) or not target.startswith(PACKAGE + ".") or target.count(".") < 2:
        raise InputError(f"{source}: model _target_={target!r} is refused; models are built only from "
                         f"classes of the {PACKAGE} package ({PACKAGE}.<module>.<Class>)")
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
    """Values per frame that ``model`` returns (``model.n_outputs``, default 6)."""
    return int(getattr(model, "n_outputs", N_SDT_LOGITS))


def check_model(model: torch.nn.Module, source) -> None:
    """InputError naming ``source`` unless ``model`` meets the contract of this module.

    Checks the attributes and runs one forward pass on a (1, C, F, 2k + 2) zero input
    (no gradients, eval mode, mode restored) expecting (1, 2, n_outputs) logits.
    """
    for name in ("context", "n_channels", "n_bins"):
        value = getattr(model, name, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{source}: the model has {name}={value!r}; the model contract "
                             f"(gru_attn.contract) needs a whole number")
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
        raise InputError(f"{source}: the model's forward fails on a (1, {model.n_channels}, {model.n_bins}, "
                         f"{2 * k + 2}) input ({type(exc).__name__}: {exc})") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 2, outputs):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"{source}: the model's forward returns {shape} for a (1, C, F, 2k + 2) input; "
                         f"the contract needs (1, 2, {outputs})")
