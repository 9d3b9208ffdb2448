"""Using a trained model: checkpoint -> model, audio -> features + pitch -> notes.

Shared by ``python -m gru_attn.transcribe`` and ``python -m gru_attn.evaluate``.
The checkpoint alone carries what inference needs (see :mod:`gru_attn.checkpoint`):
the model's constructor arguments, the feature layout it was trained on, the
note-decoding thresholds and the pitch tracker. Features of new audio go through
the front end of training (:func:`gru_attn.cfp.cfp_features`, z-scored by the
extractor; feature files through :func:`gru_attn.features.read_features`), and the
model runs frame-shared
(:func:`gru_attn.model.predict_song`: every frame encoded once, bounded memory).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from gru_attn import cfp
from gru_attn.checkpoint import check_model_weights, load_checkpoint, load_weights
from gru_attn.contract import DEFAULT_TARGET, build_from_config, split_logits
from gru_attn.decode import build_decoder, decoder_inputs, load_decoder, with_level
from gru_attn.errors import InputError
from gru_attn.features import MAX_TRIM_FRAMES, N_CHANNELS, load_pitch, read_features
from gru_attn.frames import HOP_SECONDS, SAMPLE_RATE
from gru_attn.level import level_for_frames
from gru_attn.model import NoteSegmenter, predict_song
from gru_attn.notes import NoteList
from gru_attn.pitch import DEFAULT_METHOD, MODEL_METHOD, pitch_methods, track_pitch, tracker_names

STAGES = ("features", "pitch", "model", "decode")  # the timed steps of one transcription


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint says about its model, besides the weights.

    ``model_config``: ``_target_`` and the constructor arguments;
    ``feature_layout``: ``n_channels``, ``n_bins``, ``context`` (frames each side),
    ``hop_seconds``, ``sample_rate``; ``decode``: the note decoder (:mod:`gru_attn.decode`);
    ``pitch_method``: where note pitches come from, one of
    :func:`gru_attn.pitch.pitch_methods` (an audio tracker of ``conf/pitch``, or ``"model"``: the
    network's pitch head); ``config``: the resolved training config (may be empty); ``epoch``: training
    epochs completed (None if unknown).
    """

    path: Path
    model_config: dict
    feature_layout: dict
    decode: object  # a decoder: called on a song's frame outputs, see gru_attn.decode
    pitch_method: str
    config: dict = field(default_factory=dict)
    epoch: int | None = None

    @property
    def n_channels(self) -> int:
        return int(self.feature_layout["n_channels"])

    @property
    def n_bins(self) -> int:
        return int(self.feature_layout["n_bins"])


@dataclass
class Transcription:
    """One transcribed song: ``notes``; ``probs`` (T, 3) voiced/onset/offset probabilities;
    ``pitch`` (T,) Hz (0 = unvoiced); ``duration_s`` of the input; ``timings`` seconds
    per stage of :data:`STAGES` (0 for a stage whose result was given)."""

    notes: NoteList
    probs: np.ndarray
    pitch: np.ndarray
    duration_s: float
    timings: dict

    @property
    def seconds(self) -> float:
        """Total processing time in seconds."""
        return float(sum(self.timings.values()))

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio."""
        return self.seconds / self.duration_s if self.duration_s > 0 else float("nan")


# --------------------------------------------------------------------------- checkpoint


def _layout(path: Path, state: dict) -> dict:
    """The checked ``feature_layout`` of a checkpoint; InputError naming ``path`` if unusable."""
    layout = state["feature_layout"]
    config = state["model_config"]
    if not isinstance(layout, dict) or not isinstance(config, dict):
        raise InputError(f"{path}: feature_layout and model_config must be dicts")
    for key in ("n_channels", "n_bins", "context"):
        value = layout.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{path}: feature_layout.{key}={value!r}; expected a whole number")
        if key in config and config[key] != value:
            raise InputError(
                f"{path}: model_config.{key}={config[key]!r} disagrees with feature_layout.{key}={value!r}"
            )
    for key, ours in (("hop_seconds", HOP_SECONDS), ("sample_rate", SAMPLE_RATE)):
        if key in layout and not np.isclose(float(layout[key]), ours):
            raise InputError(
                f"{path}: checkpoint uses {key}={layout[key]}; this version works at {key}={ours} (hop 20 ms, 16 kHz)"
            )
    return layout


def load_model(path: str | os.PathLike, device="cpu") -> tuple[torch.nn.Module, ModelInfo]:
    """Rebuild the model of checkpoint ``path`` in eval mode on ``device``.

    The model is built from the recorded ``model_config["_target_"]`` (any class of the
    ``gru_attn`` package that meets :mod:`gru_attn.contract`; checkpoints without a
    target build :class:`gru_attn.model.NoteSegmenter`). Returns ``(model, info)``.
    Raises :class:`InputError` naming the file when it is missing, corrupt or not a
    gru_attn checkpoint, when its target is refused or its model config cannot build
    a model, when its weights do not fit that model (e.g. a state_dict of another
    size), or when its feature layout, decoding settings or pitch tracker are unusable.
    """
    path = Path(path)
    state = load_checkpoint(path)
    layout = _layout(path, state)
    config = {
        "_target_": DEFAULT_TARGET,
        **state["model_config"],
        "n_channels": layout["n_channels"],
        "n_bins": layout["n_bins"],
    }
    check_model_weights(config, state["model"], path)  # shapes, size cap, finite values: before building
    model = build_from_config(config, path)
    if getattr(model, "context", None) != layout["context"]:
        raise InputError(
            f"{path}: the model has context={getattr(model, 'context', None)!r} but "
            f"feature_layout.context={layout['context']!r}"
        )
    load_weights(model, state["model"], path)
    decode = build_decoder(state.get("decode"), f"{path}: decode")
    pitch_method = state.get("pitch_method") or DEFAULT_METHOD
    check_pitch_method(model, pitch_method, path)
    model.to(device).eval()
    info = ModelInfo(
        path=path,
        model_config=config,
        feature_layout=layout,
        decode=decode,
        pitch_method=pitch_method,
        config=state.get("config") or {},
        epoch=state.get("epoch"),
    )
    return model, info


def check_pitch_method(model, method: str, path) -> None:
    """InputError naming ``path`` unless ``method`` is usable with ``model`` ("model" needs a pitch head)."""
    if method not in pitch_methods():
        raise InputError(f"{path}: pitch_method={method!r}; expected one of {', '.join(pitch_methods())}")
    if method == MODEL_METHOD and not getattr(model, "has_pitch_head", False):
        raise InputError(
            f"{path}: pitch_method=model needs a model with a pitch head; this checkpoint has none "
            f"(use --pitch-method {', '.join(tracker_names()[:-1])} or {tracker_names()[-1]})"
        )


def add_inference_options(parser, pitch_help: str = "") -> None:
    """Add the options every command that runs a checkpoint takes (``transcribe``, ``evaluate``):
    ``--pitch-method``, ``--decode`` and ``--segment-frames``, each defaulting to the checkpoint's
    setting (None). ``pitch_help`` is appended to ``--pitch-method``'s help."""
    parser.add_argument(
        "--pitch-method",
        choices=pitch_methods(),
        default=None,
        help="where note pitches come from (default: the checkpoint's): model (the network's "
        f"pitch head) or a tracker of conf/pitch: {', '.join(tracker_names())}{pitch_help}",
    )
    parser.add_argument(
        "--decode",
        default=None,
        metavar="NAME|YAML",
        help="note decoder: a name of conf/decode (segments, peaks) or a YAML file with _target_ "
        "(default: the checkpoint's)",
    )
    parser.add_argument(
        "--segment-frames",
        type=int,
        default=None,
        help="frames per inference segment (default: on CPU at most 512, the song cut evenly among the cores; 1024 on CUDA)",
    )


def with_decoder(info: ModelInfo, option: str | None) -> ModelInfo:
    """``info`` with its decoder replaced by ``option`` (a ``conf/decode`` name or YAML file; None: unchanged)."""
    return info if option is None else replace(info, decode=load_decoder(option))


def with_pitch_method(model, info: ModelInfo, method: str | None) -> ModelInfo:
    """``info`` with ``pitch_method`` replaced by ``method`` (None: unchanged), checked against ``model``."""
    if method is None:
        return info
    check_pitch_method(model, method, info.path)
    return replace(info, pitch_method=method)


# --------------------------------------------------------------------------- features and pitch


def check_layout(feats: np.ndarray, info: ModelInfo, source) -> None:
    """InputError naming ``source`` unless (C, F, T) ``feats`` have the checkpoint's (C, F) layout."""
    expected = (info.n_channels, info.n_bins)
    if tuple(feats.shape[:2]) != expected:
        raise InputError(
            f"{source}: features have {feats.shape[0]} x {feats.shape[1]} (channels x bins) per frame, "
            f"but the checkpoint {info.path.name} was trained on {expected[0]} x {expected[1]} "
            "(a different feature layout)"
        )


def features_for_audio(audio: np.ndarray, device="cpu", source="audio") -> np.ndarray:
    """(N,) 16 kHz audio -> (9, 174, T) float32 CFP features, z-scored per block (by the extractor).

    Too short or silent audio -> InputError naming ``source``.
    """
    feats = cfp.cfp_features(audio, device=device, source=str(source))
    return feats.reshape(N_CHANNELS, feats.shape[0] // N_CHANNELS, feats.shape[1])


def features_from_file(path: str | os.PathLike) -> np.ndarray:
    """A VOCANO-layout ``*_feat.npy`` ((1566, T) or (9, n_bins, T)) -> (9, n_bins, T) float32, z-scored per block."""
    return read_features(path)


def pitch_from_file(path: str | os.PathLike) -> np.ndarray:
    """A ``*_pitch.npy`` ((T,) Hz or VOCANO's (T, 2) [time, Hz]) -> (T,) float64 Hz."""
    return load_pitch(path)


def _align(feats: np.ndarray, pitch: np.ndarray, feat_source, pitch_source) -> tuple[np.ndarray, np.ndarray]:
    """Trim features and pitch to the shorter length (they may differ by ``MAX_TRIM_FRAMES``); else InputError."""
    n_feat, n_pitch = feats.shape[-1], len(pitch)
    if abs(n_feat - n_pitch) > MAX_TRIM_FRAMES:
        raise InputError(
            f"{pitch_source} has {n_pitch} frames but {feat_source} has {n_feat} "
            f"(at most {MAX_TRIM_FRAMES} frames of difference are trimmed)"
        )
    n = min(n_feat, n_pitch)
    return feats[..., :n], pitch[:n]


# --------------------------------------------------------------------------- transcription


def transcribe_audio(
    model: NoteSegmenter,
    info: ModelInfo,
    audio: np.ndarray | None = None,
    *,
    feats: np.ndarray | None = None,
    pitch: np.ndarray | None = None,
    source="audio",
    device="cpu",
    segment_frames: int | None = None,
    feat_source=None,
    pitch_source=None,
) -> Transcription:
    """Transcribe one song: (N,) 16 kHz ``audio`` and/or precomputed ``feats`` / ``pitch``.

    ``feats``: (C, F, T) z-scored features (as :func:`features_for_audio` returns);
    ``pitch``: (T,) Hz. Whatever is not given is computed from ``audio`` (CFP on
    ``device``, pitch with ``info.pitch_method``; ``"model"``: the pitch head's
    frame f0 where it says voiced, each note's median of those, see
    :func:`gru_attn.contract.model_pitch_contours`). Features must match the
    checkpoint's layout; features and pitch may differ by up to 2 frames (trimmed).
    The model runs frame-shared in segments of ``segment_frames`` frames; decoding uses
    ``info.decode``. ``source`` names the input in error messages; ``feat_source`` /
    ``pitch_source`` name the files ``feats`` / ``pitch`` came from (default: ``source``).
    """
    from_model = pitch is None and info.pitch_method == MODEL_METHOD
    if audio is None and (feats is None or (pitch is None and not from_model)):
        raise InputError(f"{source}: need audio, or both features and pitch")
    timings = dict.fromkeys(STAGES, 0.0)
    start = time.perf_counter()
    if feats is None:
        feats = features_for_audio(audio, device=device, source=source)
    check_layout(feats, info, source)
    timings["features"] = time.perf_counter() - start
    start = time.perf_counter()
    if pitch is None and not from_model:
        pitch = track_pitch(audio, info.pitch_method)
    timings["pitch"] = time.perf_counter() - start
    if not from_model:
        feats, pitch = _align(
            feats,
            np.asarray(pitch, dtype=np.float64),
            feat_source or f"{source} (features)",
            pitch_source or f"{source} (pitch)",
        )

    start = time.perf_counter()
    logits = predict_song(model, feats, segment_frames=segment_frames, device=device)
    timings["model"] = time.perf_counter() - start
    start = time.perf_counter()
    if from_model and split_logits(logits)[1] is None:
        raise InputError(f"{source}: pitch_method=model needs a model with a pitch head")
    inputs = decoder_inputs(logits, None if from_model else pitch)
    probs, pitch = inputs["probs"], inputs["pitch_hz"]
    # the audio level, for decoders that take it and read it (decode=segments with a level term on)
    if audio is not None and getattr(info.decode, "reads_level", True):
        inputs = with_level(info.decode, inputs, level_for_frames(audio, len(probs)))
    notes = info.decode(**inputs)
    timings["decode"] = time.perf_counter() - start
    duration = len(audio) / SAMPLE_RATE if audio is not None else (feats.shape[-1] + 1) * HOP_SECONDS
    return Transcription(
        notes=notes, probs=probs.astype(np.float32), pitch=pitch, duration_s=float(duration), timings=timings
    )
