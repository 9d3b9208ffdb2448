"""Per-frame network outputs -> notes; shared by validation, evaluate and transcribe.

Decoders (``conf/decode/<name>.yaml``, selected by ``decode=<name>``)
----------------------------------------------------------------------
A decoder is one class plus one config: the config's ``_target_`` names a class of
the ``gru_attn`` package, every other key is a constructor argument (bad values ->
:class:`InputError` naming the option). An instance is called on one song's frame
outputs (20 ms frames, ``T`` of them)::

    decoder(probs, pitch_hz, fallback_hz=None, pitch_dist=None, pitch_voicing=None, level_db=None) -> NoteList

- ``probs`` (T, 3): positive-class probabilities voiced / onset / offset;
- ``pitch_hz`` (T,): the note-pitch contour in Hz, 0 = unvoiced;
- ``fallback_hz`` (T,) Hz or None: the pitch head's f0 on every frame;
- ``pitch_dist`` (T, n_bins) or None: the pitch head's distribution over its bins
  (rows sum to 1, bin ``i`` at ``80 * 2 ** (i / 48)`` Hz), and ``pitch_voicing`` (T,)
  its voicing probability - both only when the model has a pitch head;
- ``level_db`` (T,) or None: the audio level in dB on the frame grid
  (:func:`gru_attn.level.level_db`), given by callers that have the audio. Callers pass
  it only to decoders whose ``__call__`` takes it (:func:`with_level`), so a decoder
  written before it existed still works; ``decode=peaks`` ignores it.

``decoder.as_dict()`` returns its config, ``_target_`` included, which checkpoints
store; :func:`build_decoder` rebuilds it (an old checkpoint's plain settings dict,
without ``_target_``, builds the peak-picking :class:`DecodeParams`).
:func:`decoder_inputs` turns a model's logits into the keyword arguments above.
Decoders: :class:`DecodeParams` (``decode=peaks``, below) and
:class:`gru_attn.segments.SegmentDecoder` (``decode=segments``, a whole-song
dynamic programme).

Peak picking (``decode=peaks``)
-------------------------------
VOCANO-style decoding on the frame grid of :mod:`gru_attn.frames`:

1. The onset and offset curves are optionally smoothed (Hann window of
   ``smooth_frames`` taps, unit sum) and their peaks at or above the threshold are
   picked, at least ``peak_distance_frames`` apart (frames at either end count).
2. Each onset peak ``a`` starts a note that may last up to the next onset peak
   ``b`` (or the end of the input). The note ends at the earliest of

   - the first offset peak in ``[a + min_note_frames, b]`` (an offset on the next
     onset's frame is allowed: adjacent notes). An offset peak closer to ``a``
     ends the previous note, not this one: after a short rest or in legato the
     network often fires its offset on the next note's onset frame too, and a
     note ended there would be too short to keep;
   - the first *silence*: after the voiced curve has reached ``voiced_threshold``
     at or after ``a``, the first frame where it falls below it again and stays
     below for ``min_silence_frames`` frames (or until ``b``) - a shorter dip does
     not end the note. So when the voiced curve drops before the offset peak, the
     drop wins;
   - ``b`` itself (legato: the next note cuts this one).
3. A note is dropped when its onset peak lies in silence (the voiced curve stays
   below threshold for ``min_silence_frames`` frames from the onset), when fewer
   than ``min_voiced_fraction`` of its frames are voiced (voiced curve >=
   threshold), when it has fewer than ``min_note_frames`` frames, or when the pitch
   contour has no voiced frame (f0 > 0) inside it - a note never gets a made-up
   pitch (unless a fallback contour is given, see 4).
4. Optionally (``split_semitones`` > 0) a note is split where its pitch moves to a
   new note without a new onset peak (a melisma, or legato across a consonant the
   onset curve missed): scanning windows of ``split_frames`` frames of the
   fallback contour (see 5; the contour itself without one), a window is *stable*
   when all its frames lie within half a semitone of its median. The first stable
   window sets the note's reference pitch; a later stable window whose median lies
   at least ``split_semitones`` from the reference starts a new note half-way
   between the last stable frame at the reference and that window, and becomes the
   new reference. Both parts must keep ``min_note_frames``.
5. Pitch = median of the contour (as fractional MIDI) over the note's frames with
   f0 > 0 (if there are none, the median of the optional fallback contour there);
   rounded to the nearest semitone when ``round_pitch``.

With ``pitch_method=model`` the contour is the network's own pitch head
(:func:`gru_attn.contract.model_pitch_contours`): its f0 on frames the head calls voiced, and as
fallback its f0 on every frame.

A note covering frames ``[a, e)`` gets onset ``frame_to_time(a)`` and offset
``frame_to_time(e)``, the inverse of :func:`gru_attn.labels.notes_to_targets`, so
ideal 0/1 curves decode to the labelled notes up to half a hop (10 ms).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from gru_attn.contract import model_pitch_contours, split_logits
from gru_attn.errors import InputError
from gru_attn.frames import frame_to_time
from gru_attn.notes import NoteList, hz_to_midi


@dataclass(frozen=True)
class DecodeParams:
    """Note-decoding settings (thresholds are probabilities, lengths are frames of 20 ms).

    - ``onset_threshold`` / ``offset_threshold``: minimum height of a picked peak;
    - ``voiced_threshold``: a frame is voiced when its voiced probability is >= this;
    - ``smooth_frames``: Hann smoothing of the onset/offset curves (0 or 1 = off);
    - ``peak_distance_frames``: minimum distance between two onset (or two offset) peaks;
    - ``min_note_frames``: shorter notes are dropped (3 frames = 60 ms);
    - ``min_silence_frames``: an unvoiced stretch at least this long is silence: it
      ends a note, and a note whose onset is followed by one is dropped;
    - ``min_voiced_fraction``: notes with a smaller share of voiced frames are dropped;
    - ``split_semitones``: split a note where its pitch settles at least this many
      semitones away (0 = off; see the module docstring, rule 4);
    - ``split_frames``: frames a pitch must hold (within half a semitone) to count
      as settled;
    - ``round_pitch``: round each note's pitch to the nearest semitone.
    """

    onset_threshold: float = 0.5
    offset_threshold: float = 0.5
    voiced_threshold: float = 0.5
    smooth_frames: int = 0
    peak_distance_frames: int = 3
    min_note_frames: int = 3
    min_silence_frames: int = 3
    min_voiced_fraction: float = 0.5
    split_semitones: float = 0.0
    split_frames: int = 4
    round_pitch: bool = False

    def __post_init__(self):
        for name in ("onset_threshold", "offset_threshold", "voiced_threshold", "min_voiced_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"decode.{name} must be in [0, 1], got {getattr(self, name)}")
        if not float(self.split_semitones) >= 0.0:
            raise InputError(f"decode.split_semitones must be >= 0 semitones (0 = off), got {self.split_semitones}")
        for name, least in (
            ("smooth_frames", 0),
            ("peak_distance_frames", 1),
            ("min_note_frames", 0),
            ("min_silence_frames", 1),
            ("split_frames", 1),
        ):
            value = getattr(self, name)
            if int(value) != value or value < least:
                raise InputError(f"decode.{name} must be a whole number of frames >= {least}, got {value}")

    def as_dict(self) -> dict:
        """Plain dict of the settings with ``_target_`` (for checkpoints and logs)."""
        return {"_target_": PEAKS_TARGET, **asdict(self)}

    def __call__(
        self, probs, pitch_hz, fallback_hz=None, pitch_dist=None, pitch_voicing=None, level_db=None
    ) -> NoteList:
        """Decode one song (see the module docstring); the pitch distribution and level are not used."""
        return decode_notes(probs, pitch_hz, self, fallback_hz=fallback_hz)


PEAKS_TARGET = "gru_attn.decode.DecodeParams"
PeakDecoder = DecodeParams  # the peak-picking decoder: its settings are its whole state


def build_decoder(config, source="decode"):
    """A decoder from its config (a dict or DictConfig with ``_target_``, see the module docstring).

    None or a dict without ``_target_`` (checkpoints written before decoders had a
    config group) builds :class:`DecodeParams` from the settings. A decoder instance is
    returned as is. InputError naming ``source`` for a target outside the ``gru_attn``
    package, one that is not callable with ``as_dict``, or settings it refuses.
    """
    if callable(config) and hasattr(config, "as_dict"):
        return config
    if config is not None and not isinstance(config, dict):
        try:
            from omegaconf import OmegaConf

            config = OmegaConf.to_container(config, resolve=True)
        except ValueError:
            config = None
        if not isinstance(config, dict):
            raise InputError(f"{source}: expected a mapping of decoder settings")
    kwargs = dict(config or {})
    target = kwargs.pop("_target_", PEAKS_TARGET)
    if not isinstance(target, str) or not target.startswith("gru_attn.") or target.count(".") < 2:
        raise InputError(
            f"{source}: decoder _target_={target!r} is refused; decoders are classes of the "
            "gru_attn package (gru_attn.<module>.<Class>)"
        )
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError as exc:
        raise InputError(f"{source}: decoder _target_={target!r}: cannot import {module_name} ({exc})") from None
    if not (isinstance(cls, type) and callable(cls) and hasattr(cls, "as_dict")):
        raise InputError(f"{source}: decoder _target_={target!r} is not a decoder class")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"{source}: unusable decoder settings ({exc})") from None
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


DECODE_CONF_DIR = Path(__file__).resolve().parent.parent / "conf" / "decode"


def decoder_choices() -> list[str]:
    """Names of the decoder configs in ``conf/decode/`` (what ``decode=<name>`` and ``--decode`` take)."""
    return sorted(p.stem for p in DECODE_CONF_DIR.glob("*.yaml"))


def load_decoder(option: str, source: str = "--decode"):
    """A decoder from ``option``: a name of ``conf/decode/`` (e.g. ``segments``) or a YAML file.

    InputError naming ``source`` when neither exists or the file does not build a decoder.
    """
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    path = Path(option)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = DECODE_CONF_DIR / f"{option}.yaml"
    if not path.is_file():
        raise InputError(f"{source} {option}: not a decoder name ({', '.join(decoder_choices())}) or YAML file")
    try:
        config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException) as exc:  # a bad or unreadable file
        raise InputError(f"{source} {option}: cannot read {path} ({str(exc).splitlines()[0]})") from None
    return build_decoder(config, f"{source} {option}")


def decoder_inputs(logits, pitch_hz=None) -> dict:
    """(T, 6) or (T, 6 + n_bins + 1) model logits -> keyword arguments of a decoder call.

    ``pitch_hz`` (T,) Hz: a tracker's contour; None with a pitch head: the head's
    contour and fallback (:func:`model_pitch_contours`). With a pitch head the
    distribution (softmax over its bins) and voicing probability are passed too.
    """
    logits = np.asarray(logits)
    sdt6, pitch_bins, voicing = split_logits(logits)
    out = {"probs": probs_from_logits(sdt6)}
    if pitch_bins is not None:
        z = pitch_bins.astype(np.float32)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        out["pitch_dist"] = z / z.sum(axis=1, keepdims=True)
        out["pitch_voicing"] = expit(voicing.astype(np.float64))
        if pitch_hz is None:
            out["pitch_hz"], out["fallback_hz"] = model_pitch_contours(logits)
    if pitch_hz is not None:
        out["pitch_hz"] = np.asarray(pitch_hz, dtype=np.float64)
    elif "pitch_hz" not in out:
        raise ValueError("decoder_inputs: logits without a pitch head need a pitch contour")
    return out


def with_level(decoder, inputs: dict, level_db) -> dict:
    """``inputs`` (decoder keyword arguments) plus ``level_db`` when it is not None and
    ``decoder`` takes it (a ``level_db`` parameter or ``**kwargs``)."""
    if level_db is None:
        return inputs
    try:
        params = inspect.signature(decoder).parameters.values()
    except (TypeError, ValueError):  # no signature to read: do not risk an unexpected keyword
        return inputs
    if any(p.name == "level_db" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return {**inputs, "level_db": level_db}
    return inputs


def probs_from_logits(logits):
    """(..., 6) sdt6 logits (pairs [negative, positive]) -> (..., 3) positive-class probabilities.

    The 2-way softmax of each pair equals sigmoid(positive - negative). A torch tensor
    gives a torch tensor, anything else a float numpy array.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(logits, torch.Tensor):
        return torch.sigmoid(logits[..., 1::2] - logits[..., 0::2])
    logits = np.asarray(logits, dtype=np.float64)
    return expit(logits[..., 1::2] - logits[..., 0::2])


def decode_notes(probs, pitch_hz, params: DecodeParams | None = None, fallback_hz=None) -> NoteList:
    """(T, 3) positive-class probabilities (voiced, onset, offset) + (T,) f0 in Hz -> NoteList.

    See the module docstring for the rules; ``params`` defaults to ``DecodeParams()``.
    ``fallback_hz`` (T,) Hz, optional: a note with no voiced frame in ``pitch_hz`` takes
    the median of this contour instead of being dropped (the model pitch head's
    estimate on frames it calls unvoiced).
    """
    params = params or DecodeParams()
    probs = np.asarray(probs, dtype=np.float64)
    midi = hz_to_midi(np.asarray(pitch_hz, dtype=np.float64).reshape(-1))
    if probs.ndim != 2 or probs.shape[1] != 3 or len(midi) != len(probs):
        raise ValueError(f"decode_notes: expected probs (T, 3) and pitch (T,), got {probs.shape} and {midi.shape}")
    fallback = midi if fallback_hz is None else hz_to_midi(np.asarray(fallback_hz, dtype=np.float64).reshape(-1))
    if len(fallback) != len(midi):
        raise ValueError(f"decode_notes: fallback pitch has {len(fallback)} frames, expected {len(midi)}")
    n = len(probs)
    voiced = probs[:, 0] >= params.voiced_threshold
    onsets = _peaks(probs[:, 1], params.onset_threshold, params)
    offsets = _peaks(probs[:, 2], params.offset_threshold, params)
    silence = _silence_starts(voiced, params.min_silence_frames)

    bounds = []
    for a, b in zip(onsets, np.r_[onsets[1:], n]):
        first_voiced = a + int(np.argmax(voiced[a:b])) if voiced[a:b].any() else b
        if first_voiced - a >= params.min_silence_frames:
            continue  # the onset lies in silence
        end = _first_silence(silence, voiced, first_voiced, b)
        k = np.searchsorted(offsets, a + max(params.min_note_frames, 1))  # first offset peak that leaves a note
        if k < len(offsets) and offsets[k] <= end:
            end = offsets[k]
        bounds.append((a, end))
    keep = [
        (a, e)
        for a, e in bounds
        if e - a >= max(params.min_note_frames, 1)
        and voiced[a:e].mean() >= params.min_voiced_fraction
        and not (np.isnan(midi[a:e]).all() and np.isnan(fallback[a:e]).all())
    ]
    if params.split_semitones > 0:
        keep = [part for a, e in keep for part in _split_by_pitch(fallback, a, e, params)]
    if not keep:
        return NoteList.empty()
    keep = np.asarray(keep, dtype=np.int64)
    pitch = np.array([np.nanmedian(midi[a:e] if not np.isnan(midi[a:e]).all() else fallback[a:e]) for a, e in keep])
    if params.round_pitch:
        pitch = np.rint(pitch)
    return NoteList(frame_to_time(keep[:, 0]), frame_to_time(keep[:, 1]), pitch)


def _split_by_pitch(midi: np.ndarray, a: int, e: int, params: DecodeParams) -> list[tuple[int, int]]:
    """Frames ``[a, e)`` of one note -> its parts, cut where ``midi`` (T,) settles on a new pitch (rule 4)."""
    k, least = params.split_frames, max(params.min_note_frames, 1)
    if e - a < k:
        return [(a, e)]
    windows = np.lib.stride_tricks.sliding_window_view(midi[a:e], k)  # (e - a - k + 1, k)
    with np.errstate(invalid="ignore"):
        centre = np.median(windows, axis=1)  # NaN where a window has an unvoiced frame
        stable = np.all(np.abs(windows - centre[:, None]) < 0.5, axis=1)
    cuts, ref, ref_end = [a], None, a
    for i in np.flatnonzero(stable):
        if ref is None or abs(centre[i] - ref) < 0.5:
            ref = centre[i] if ref is None else ref
            ref_end = a + i + k
        elif abs(centre[i] - ref) >= params.split_semitones:
            cut = (ref_end + a + i) // 2
            if cut - cuts[-1] >= least and e - cut >= least:
                cuts.append(cut)
            ref, ref_end = centre[i], a + i + k
    cuts.append(e)
    return list(zip(cuts[:-1], cuts[1:]))


def _peaks(curve: np.ndarray, threshold: float, params: DecodeParams) -> np.ndarray:
    """Sorted frame indices of the peaks of ``curve`` (optionally smoothed) with height >= threshold."""
    if params.smooth_frames > 1:
        window = np.hanning(params.smooth_frames + 2)[1:-1]
        curve = np.convolve(curve, window / window.sum(), mode="same")
    from scipy.signal import find_peaks  # here, not at import: scipy.signal costs a second to load

    padded = np.r_[-np.inf, curve, -np.inf]  # lets a peak sit on the first or last frame
    peaks, _ = find_peaks(padded, height=threshold, distance=params.peak_distance_frames)
    return peaks - 1


def _silence_starts(voiced: np.ndarray, min_frames: int) -> np.ndarray:
    """(T,) bool: frame starts an unvoiced run of at least ``min_frames`` frames."""
    n = len(voiced)
    unvoiced = np.r_[False, ~voiced, False].astype(np.int8)
    edges = np.diff(unvoiced)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = np.zeros(n, dtype=bool)
    out[starts[stops - starts >= max(min_frames, 1)]] = True
    return out


def _first_silence(silence: np.ndarray, voiced: np.ndarray, start: int, bound: int) -> int:
    """First frame in ``(start, bound)`` that begins a silence (long, or lasting until ``bound``); else ``bound``."""
    if start >= bound:
        return bound
    unvoiced = np.flatnonzero(~voiced[start + 1 : bound]) + start + 1
    if len(unvoiced) == 0:
        return bound
    long_ones = unvoiced[silence[unvoiced]]
    if len(long_ones):
        return int(long_ones[0])
    # a short dip counts only if it runs up to the bound (the note's region ends silent)
    last_voiced = start + int(np.flatnonzero(voiced[start:bound])[-1])
    return last_voiced + 1 if last_voiced + 1 < bound else bound


# --------------------------------------------------------------------------- hard labels

# Decoding hard 0/1 labels: every labelled onset starts a note, however short.
HARD_LABEL_DECODING = DecodeParams(peak_distance_frames=1, min_note_frames=1)


def notes_from_targets(targets: np.ndarray, pitch: np.ndarray) -> NoteList:
    """Hard (T, 3) targets + (T,) pitch in Hz -> NoteList, by :func:`decode_notes` with
    :data:`HARD_LABEL_DECODING` (for corpora labelled per frame).

    For targets made by :func:`gru_attn.labels.notes_to_targets` the notes come back
    within half a hop (10 ms); the pitch is the median MIDI number of the voiced contour
    inside each note, and a note without any voiced pitch frame is dropped.
    """
    return decode_notes(np.asarray(targets, dtype=np.float64), pitch, HARD_LABEL_DECODING)
