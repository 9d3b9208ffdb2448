"""Find, validate and load a VOCANO-layout corpus folder into per-song arrays.

Layout (one song = one name; every folder holds one file per song)::

    feat_dir/<song>_feat.npy    (9 * n_bins, T) VOCANO layout, rows 174*b ... 174*b+173 = block b,
                                or (9, n_bins, T); any real dtype (kept as float32)
    pitch_dir/<song>_pitch.npy  (T,) f0 in Hz, 0 = unvoiced; or VOCANO's (T, 2) [time s, Hz]
    notes_dir/<song>.<ext>      optional reference notes, any of ``notes.NOTE_EXTENSIONS``
    sdt_dir/<song>_sdt.npy      optional (T, 6) Note-Segmentation-SSL frame labels
    split_file                  optional JSON {"train": [...], "val": [...], "test": [...]}

Songs are the ``*_feat.npy`` files of ``feat_dir``, sorted by name. Features are
z-scored per song and per block (each of the 9 blocks over its whole n_bins x T
slab, population std), exactly as VOCANO's extractor does, so VOCANO's own feature
files pass through unchanged (up to float32 round-off). A block with zero spread
cannot be z-scored and is an error (VOCANO would have written NaN there). The
frequency-bin count is ``rows / 9``; nothing is padded. Only the float32 features
are kept (one copy per song).

Feature, pitch and sdt lengths may differ by up to ``MAX_TRIM_FRAMES`` (2) frames
(extractors round the last frame differently); all arrays are then trimmed to the
shortest, with a log line naming both files and both lengths. Larger differences
are errors.

Labels (``Song.label_source``), chosen once per corpus, never mixed:

1. ``"notes"`` when ``notes_dir`` is given: every song must have exactly one notes
   file there; targets are :func:`gru_attn.labels.notes_to_targets` of those notes,
   which are also the reference for note metrics.
2. ``"sdt"`` when only ``sdt_dir`` is given: Note-Segmentation-SSL's ``(T, 6)`` labels,
   whose columns are three (negative, positive) pairs in the order (silence, voiced),
   (not onset, onset), (not offset, offset) -- the same order as
   :data:`gru_attn.labels.SDT6_NAMES` (established from that project's training loss,
   which takes ``sdt[:, :2]`` as silence/duration, ``sdt[:, 3]`` as onset and
   ``sdt[:, 5]`` as offset, and its decoder, which reads the same columns). Each pair
   must sum to 1. Reference notes are decoded from the targets and the pitch contour
   (:func:`notes_from_targets`: the shared decoder, set for hard labels).
3. ``"pitch"`` otherwise: notes derived from the pitch contour with
   :func:`gru_attn.labels.pitch_to_notes`, then targets from those notes. This is a
   heuristic: good on clean solo singing with a good tracker, blind to legato
   same-pitch repeats (measurements: ``benchmarks/RESULTS.md``).

Splits are by song, never by window: a split file (names must exist, no song in two
splits) or a seeded fraction of the sorted names.

:func:`load_synthetic_corpus` loads the embedded synthetic corpus (``gru_attn.synth``,
generated on first use) with its notes and its own split file.

A corpus loader (``data.corpus._target_``; a new data set = its loader plus
``conf/data/<name>.yaml``) takes ``splits`` and returns ``{split: [Song, ...]}``: a
:class:`Corpus`, which also says where the songs' audio is (``wav_dir``), or a plain dict
(no audio).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gru_attn.decode import notes_from_targets
from gru_attn.errors import InputError
from gru_attn.features import (
    FEAT_SUFFIX,
    MAX_TRIM_FRAMES,
    N_CHANNELS,
    PITCH_SUFFIX,
    load_features,
    load_npy,
    load_pitch,
    zscore_blocks,
)
from gru_attn.labels import SDT6_NAMES, notes_to_targets, pitch_to_notes, sdt6_to_targets
from gru_attn.notes import NOTE_EXTENSIONS, NoteList, read_notes

log = logging.getLogger(__name__)

SDT_SUFFIX = "_sdt.npy"
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Song:
    """One loaded song, all arrays on the same T-frame grid (see :mod:`gru_attn.frames`)."""

    name: str
    feats: np.ndarray  # (n_channels, n_bins, T) float32, z-scored per block
    pitch: np.ndarray  # (T,) float64 Hz, 0 = unvoiced
    targets: np.ndarray  # (T, 3) uint8 (voiced, onset, offset)
    notes: NoteList  # reference notes (seconds, MIDI) for note-level metrics
    label_source: str  # "notes" | "sdt" | "pitch"

    @property
    def n_frames(self) -> int:
        return self.feats.shape[-1]


class Corpus(dict):
    """``{split: [Song, ...]}`` of one corpus, plus ``wav_dir``: the folder of its ``<song>.wav``
    files (None: no audio), which validation with an audio pitch tracker reads."""

    def __init__(self, splits: dict, wav_dir=None):
        super().__init__(splits)
        self.wav_dir = Path(wav_dir) if wav_dir is not None else None


# --------------------------------------------------------------------------- files


def find_songs(feat_dir) -> list[str]:
    """Sorted song names of the ``*_feat.npy`` files in ``feat_dir``."""
    feat_dir = Path(feat_dir)
    if not feat_dir.is_dir():
        raise InputError(f"{feat_dir}: feature folder not found (expected <song>{FEAT_SUFFIX} files)")
    names = sorted(p.name[: -len(FEAT_SUFFIX)] for p in feat_dir.glob(f"*{FEAT_SUFFIX}") if p.is_file())
    if not names:
        raise InputError(f"no *{FEAT_SUFFIX} files in {feat_dir}")
    return names


def load_sdt(path) -> np.ndarray:
    """Note-Segmentation-SSL ``(T, 6)`` labels -> (T, 3) uint8 targets (voiced, onset, offset).

    Columns must be (negative, positive) pairs in :data:`gru_attn.labels.SDT6_NAMES`
    order with values in [0, 1] and every pair summing to 1.
    """
    sdt = load_npy(path).astype(np.float64)
    expected = f"expected (T, 6) pairs {', '.join(SDT6_NAMES)} in [0, 1], each pair summing to 1"
    if sdt.ndim != 2 or sdt.shape[1] != len(SDT6_NAMES):
        raise InputError(f"{path}: sdt labels have shape {sdt.shape}; {expected}")
    pair_sums = sdt[:, 0::2] + sdt[:, 1::2]
    if (sdt < 0).any() or (sdt > 1).any() or np.abs(pair_sums - 1.0).max(initial=0.0) > 1e-3:
        raise InputError(f"{path}: sdt labels are not probability pairs; {expected}")
    return sdt6_to_targets(sdt)


def find_notes_file(notes_dir, name: str) -> Path:
    """The one ``notes_dir/<name>.<ext>`` file with a note extension; InputError if none or several."""
    notes_dir = Path(notes_dir)
    extensions = [ext.lstrip(".") for ext in NOTE_EXTENSIONS]
    matches = [notes_dir / f"{name}.{ext}" for ext in extensions if (notes_dir / f"{name}.{ext}").is_file()]
    if not matches:
        raise InputError(
            f"{notes_dir / name}.*: no notes file for song {name!r} "
            f"(expected one of {', '.join('.' + e for e in extensions)})"
        )
    if len(matches) > 1:
        raise InputError(
            f"{notes_dir}: several notes files for song {name!r} "
            f"({', '.join(p.name for p in matches)}); keep exactly one"
        )
    return matches[0]


def _check_length(n_ref: int, ref_path: Path, n: int, path: Path) -> None:
    """InputError if two frame counts differ by more than MAX_TRIM_FRAMES; log if they differ at all."""
    if abs(n - n_ref) > MAX_TRIM_FRAMES:
        raise InputError(
            f"{path} has {n} frames but {ref_path} has {n_ref} "
            f"(at most {MAX_TRIM_FRAMES} frames of difference are trimmed)"
        )
    if n != n_ref:
        log.warning("trimming to %d frames: %s has %d frames, %s has %d", min(n, n_ref), ref_path, n_ref, path, n)


def label_source_for(notes_dir=None, sdt_dir=None) -> str:
    """The corpus' label source: "notes" if ``notes_dir`` is given, else "sdt" if ``sdt_dir``, else "pitch"."""
    if notes_dir is not None:
        return "notes"
    return "sdt" if sdt_dir is not None else "pitch"


def load_song(name: str, feat_dir, pitch_dir, notes_dir=None, sdt_dir=None, n_channels: int = N_CHANNELS) -> Song:
    """Load, validate, trim, normalise and label one song (see the module docstring for the rules)."""
    source = label_source_for(notes_dir, sdt_dir)
    feat_path = Path(feat_dir) / f"{name}{FEAT_SUFFIX}"
    pitch_path = Path(pitch_dir) / f"{name}{PITCH_SUFFIX}"
    feats = load_features(feat_path, n_channels)
    pitch = load_pitch(pitch_path)
    lengths = {pitch_path: len(pitch)}
    sdt_targets = None
    if source == "sdt":
        sdt_path = Path(sdt_dir) / f"{name}{SDT_SUFFIX}"
        sdt_targets = load_sdt(sdt_path)
        lengths[sdt_path] = len(sdt_targets)
    for path, n in lengths.items():
        _check_length(feats.shape[-1], feat_path, n, path)
    n_frames = min(feats.shape[-1], *lengths.values())
    if feats.shape[-1] > n_frames:
        feats = np.ascontiguousarray(feats[..., :n_frames])
    pitch = pitch[:n_frames]
    zscore_blocks(feats, feat_path)

    if source == "notes":
        notes = read_notes(find_notes_file(notes_dir, name))
        targets = notes_to_targets(notes.onsets, notes.offsets, n_frames)
    elif source == "sdt":
        targets = sdt_targets[:n_frames]
        notes = notes_from_targets(targets, pitch)
    else:
        notes = pitch_to_notes(pitch)
        targets = notes_to_targets(notes.onsets, notes.offsets, n_frames)
    return Song(name, feats, pitch, targets, notes, source)


def load_songs(
    feat_dir, pitch_dir, notes_dir=None, sdt_dir=None, names=None, n_channels: int = N_CHANNELS, progress: bool = False
) -> list[Song]:
    """Load ``names`` (default: every song of ``feat_dir``) in the given order.

    All songs must share one (n_channels, n_bins) feature layout. ``progress`` shows a
    tqdm bar on a terminal (never in logs or pipes).
    """
    available = find_songs(feat_dir)
    if names is None:
        names = available
    missing = sorted(set(names) - set(available))
    if missing:
        raise InputError(
            f"{Path(feat_dir) / (missing[0] + FEAT_SUFFIX)}: file not found "
            f"({len(missing)} requested song(s) missing from {feat_dir})"
        )
    if notes_dir is not None and sdt_dir is not None:
        log.info("labels from the notes in %s; the sdt folder %s is not used", notes_dir, sdt_dir)
    songs = []
    for name in tqdm(names, desc="loading songs", unit="song", disable=None if progress else True):
        song = load_song(name, feat_dir, pitch_dir, notes_dir, sdt_dir, n_channels)
        if songs and song.feats.shape[:2] != songs[0].feats.shape[:2]:
            raise InputError(
                f"{Path(feat_dir) / (name + FEAT_SUFFIX)}: {song.feats.shape[1]} frequency bins, "
                f"but {songs[0].name} has {songs[0].feats.shape[1]} (one layout per corpus)"
            )
        songs.append(song)
    return songs


# --------------------------------------------------------------------------- splits


def read_split_file(path, names: list[str]) -> dict[str, list[str]]:
    """JSON {"train": [...], "val": [...], "test": [...]} -> splits; every name must be in ``names``.

    Missing keys are empty splits; unknown keys, unknown names and songs listed twice
    are InputErrors. Songs of ``names`` that no split lists are not used (logged).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: split file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON split file ({exc})") from None
    expected = 'expected {"train": [names], "val": [names], "test": [names]}'
    if not isinstance(data, dict) or set(data) - set(SPLIT_NAMES):
        raise InputError(f"{path}: {expected}")
    splits = {}
    for split in SPLIT_NAMES:
        members = data.get(split, [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InputError(f"{path}: {split!r} must be a list of song names; {expected}")
        splits[split] = members
    known, seen = set(names), {}
    for split, members in splits.items():
        for name in members:
            if name not in known:
                raise InputError(f"{path}: song {name!r} in {split!r} has no features")
            if name in seen:
                raise InputError(f"{path}: song {name!r} is in both {seen[name]!r} and {split!r}")
            seen[name] = split
    unused = len(known) - len(seen)
    if unused:
        log.info("%s: %d song(s) are in no split and are not used", path, unused)
    return splits


def split_songs(
    names: list[str], split_file=None, val_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0
) -> dict[str, list[str]]:
    """Assign songs to train / val / test: from ``split_file`` if given, else by seeded fractions.

    Fraction splits are a permutation of the sorted names drawn from ``seed`` (so they
    depend only on the seed and the set of names); val and test get
    ``round(fraction * n)`` songs, at least one each when the fraction is > 0 and
    enough songs remain to keep one for training. Each split is returned sorted.
    """
    names = sorted(names)
    if split_file is not None:
        return read_split_file(split_file, names)
    for label, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise InputError(f"{label}={fraction}: expected a fraction in [0, 1)")
    if val_fraction + test_fraction >= 1.0:
        raise InputError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction}: "
            "must be below 1 to leave songs for training"
        )
    n = len(names)
    order = np.random.default_rng(seed).permutation(n)
    counts = []
    for fraction in (val_fraction, test_fraction):
        spare = n - 1 - sum(counts)  # songs that can leave training
        want = max(int(round(fraction * n)), 1 if fraction > 0 else 0)
        counts.append(max(0, min(want, spare)))
    n_val, n_test = counts
    picked = [names[i] for i in order]
    return {
        "train": sorted(picked[n_val + n_test :]),
        "val": sorted(picked[:n_val]),
        "test": sorted(picked[n_val : n_val + n_test]),
    }


def load_corpus(
    feat_dir,
    pitch_dir,
    notes_dir=None,
    sdt_dir=None,
    split_file=None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    splits=("train", "val"),
    n_channels: int = N_CHANNELS,
    progress: bool = True,
    wav_dir=None,
) -> Corpus:
    """Split the corpus by song and load the requested ``splits`` -> :class:`Corpus` {split: [Song, ...]}
    (``wav_dir``: the songs' audio, if any)."""
    unknown = [s for s in splits if s not in SPLIT_NAMES]
    if unknown:
        raise InputError(f"splits={list(splits)}: unknown split {unknown[0]!r} (expected {', '.join(SPLIT_NAMES)})")
    assignment = split_songs(find_songs(feat_dir), split_file, val_fraction, test_fraction, seed)
    return Corpus(
        {
            split: load_songs(feat_dir, pitch_dir, notes_dir, sdt_dir, assignment[split], n_channels, progress)
            for split in splits
        },
        wav_dir,
    )


def load_synthetic_corpus(root_dir, splits=("train", "val"), progress: bool = True, **params) -> Corpus:
    """The embedded synthetic corpus (:func:`gru_attn.synth.ensure_corpus` under ``root_dir`` with the
    generator ``params``, generated on first use) loaded with its notes and its own split file
    -> :class:`Corpus` {split: [Song, ...]}, ``wav_dir`` its ``wav/`` folder."""
    from gru_attn.synth import ensure_corpus  # here, so that loading other corpora never imports the singer

    root = ensure_corpus(root_dir, **params, progress=progress)
    return load_corpus(
        root / "feat",
        root / "pitch",
        notes_dir=root / "notes",
        split_file=root / "splits.json",
        splits=splits,
        progress=progress,
        wav_dir=root / "wav",
    )
