"""Windows and training chunks over per-song features.

The model classifies frame ``t`` from the window of frames ``t - k ... t + k``
(``k = context``, 9 by default), with zeros beyond the song's edges. Training does
not materialise those windows: :class:`ChunkDataset` keeps each song's features
once (float32, ``(C, F, T)``) and cuts them into chunks of ``L`` consecutive target
frames plus ``k`` context frames each side, ``(C, F, L + 2k)``; the model encodes each
chunk frame once and gathers the windows from the encodings
(:meth:`gru_attn.model.NoteSegmenter.forward`).

An epoch covers every frame of every song exactly once: each song is cut on a grid
of step ``L`` with a random offset (drawn per song and epoch), chunk positions that
fall outside the song are masked, and the chunks are shuffled across songs. The
plan depends only on ``(seed, epoch)``, so a resumed run sees the same epochs.

Songs may carry their true f0 (Hz per frame) for the model's pitch head; batches then
also hold the chunk's f0. Pitch-shift augmentation (``pitch_shift_bins=(lo, hi)``)
moves each chunk's whole frequency axis by a whole number of bins drawn in
``[lo, hi]`` (4 bins = 1 semitone; the plan draws it, so it is reproducible too),
zero-filling the vacated bins, and scales its f0 by ``2 ** (shift / 48)``; an f0
pushed outside the bins' range is unvoiced for the pitch head. The sdt6 targets
do not change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gru_attn.cfp import BINS_PER_OCTAVE
from gru_attn.errors import InputError


def pad_song(feats: np.ndarray, context: int) -> np.ndarray:
    """(C, F, T) features -> (C, F, T + 2 * context) float32, zero padded on the frame axis."""
    feats = np.asarray(feats, dtype=np.float32)
    return np.pad(feats, ((0, 0), (0, 0), (context, context)))


def naive_windows(feats: np.ndarray, frames_idx, context: int = 9) -> np.ndarray:
    """Reference gather: the (n, C, F, 2 * context + 1) float32 windows centred on ``frames_idx``.

    Copies every window (19x the features); for tests and the benchmark only.
    """
    padded = pad_song(feats, context)
    idx = np.asarray(frames_idx, dtype=np.int64)[:, None] + np.arange(2 * context + 1)
    return np.ascontiguousarray(padded[:, :, idx].transpose(2, 0, 1, 3))


class ChunkDataset:
    """Training chunks over songs stored once.

    Args:
        songs: ``(feats, targets)`` or ``(feats, targets, pitch)`` per song (all songs
            alike): feats ``(C, F, T)`` (converted to float32 once, no copy when already
            float32 and C-contiguous), targets ``(T, 3)`` {0, 1} (voiced, onset, offset),
            pitch ``(T,)`` f0 in Hz (0 = unvoiced).
        chunk_frames: ``L``, target frames per chunk.
        context: ``k``, frames read either side of a chunk.
        seed: seeds the per-epoch offsets and shuffling (and the pitch shifts).
        pitch_shift_bins: ``(lo, hi)`` whole bins, the range of the per-chunk
            frequency shift; ``None`` or ``(0, 0)`` = off.

    A chunk is addressed by ``(song, start)``: it classifies song frames
    ``start ... start + L - 1`` (``start`` may be negative for the first chunk of a
    song) and reads frames ``start - k ... start + L + k - 1``, with zeros outside
    ``[0, T)``.
    """

    def __init__(self, songs: list, chunk_frames: int = 128, context: int = 9, seed: int = 0, pitch_shift_bins=None):
        if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames <= 0:
            raise InputError(f"data.chunk_frames={chunk_frames!r} must be a positive integer")
        if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
            raise InputError(f"context={context!r} must be an integer >= 0")
        if not songs:
            raise InputError("ChunkDataset: no songs to train on")
        self.chunk_frames, self.context, self.seed = int(chunk_frames), int(context), int(seed)
        shift = tuple(pitch_shift_bins) if pitch_shift_bins is not None else (0, 0)
        if len(shift) != 2 or any(isinstance(v, bool) or int(v) != v for v in shift) or shift[0] > shift[1]:
            raise InputError(
                f"data.augment.pitch_shift_bins={pitch_shift_bins!r} must be [lo, hi] whole bins, lo <= hi"
            )
        self.pitch_shift_bins = (int(shift[0]), int(shift[1]))
        self.feats, self.targets, self.pitch = [], [], []
        with_pitch = len(songs[0]) == 3
        for i, song in enumerate(songs):
            if len(song) != (3 if with_pitch else 2):
                raise InputError(
                    f"song {i}: expected {'(feats, targets, pitch)' if with_pitch else '(feats, targets)'} like song 0"
                )
            feats, targets = song[0], song[1]
            feats = np.ascontiguousarray(feats, dtype=np.float32)
            targets = np.asarray(targets)
            if feats.ndim != 3:
                raise InputError(f"song {i}: features have shape {feats.shape}, expected (C, F, T)")
            if self.feats and feats.shape[:2] != self.feats[0].shape[:2]:
                raise InputError(
                    f"song {i}: features have shape {feats.shape}, expected "
                    f"{self.feats[0].shape[:2] + ('T',)} like song 0"
                )
            if targets.shape != (feats.shape[2], 3):
                raise InputError(
                    f"song {i}: targets have shape {targets.shape}, expected "
                    f"({feats.shape[2]}, 3) for {feats.shape[2]} feature frames"
                )
            if with_pitch:
                pitch = np.asarray(song[2], dtype=np.float32)
                if pitch.shape != (feats.shape[2],):
                    raise InputError(f"song {i}: pitch has shape {pitch.shape}, expected ({feats.shape[2]},)")
                self.pitch.append(pitch)
            self.feats.append(feats)
            self.targets.append(targets.astype(np.uint8, copy=False))
        self.n_channels, self.n_bins = self.feats[0].shape[:2]
        if max(abs(v) for v in self.pitch_shift_bins) >= self.n_bins:
            raise InputError(
                f"data.augment.pitch_shift_bins={list(self.pitch_shift_bins)} must stay within +-{self.n_bins - 1} bins"
            )

    @property
    def has_pitch(self) -> bool:
        """Whether the songs carry f0 (batches then have a 4th element)."""
        return bool(self.pitch)

    @property
    def n_frames(self) -> int:
        """Total number of target frames (all songs)."""
        return sum(t.shape[0] for t in self.targets)

    @property
    def nbytes(self) -> int:
        """Bytes held for the songs (features and targets)."""
        return sum(f.nbytes + t.nbytes for f, t in zip(self.feats, self.targets)) + sum(p.nbytes for p in self.pitch)

    def epoch_plan(self, epoch: int) -> np.ndarray:
        """(n_chunks, 2) int64 rows ``(song, start)`` of epoch ``epoch``, shuffled; with pitch
        shifts on, (n_chunks, 3) rows ``(song, start, shift)``.

        Song ``s`` is cut at starts ``o - L, o, o + L, ...`` (``o`` random in ``[0, L)``;
        the first start is dropped when ``o = 0``), so its frames are covered once.
        """
        rng = np.random.default_rng((self.seed, int(epoch)))
        L = self.chunk_frames
        plans = []
        for s, targets in enumerate(self.targets):
            offset = int(rng.integers(L))
            starts = np.arange(-((L - offset) % L), targets.shape[0], L)
            plans.append(np.stack([np.full_like(starts, s), starts], axis=1))
        plan = np.concatenate(plans) if plans else np.zeros((0, 2), dtype=np.int64)
        plan = plan[rng.permutation(len(plan))]
        lo, hi = self.pitch_shift_bins
        if lo == hi == 0:
            return plan
        shifts = np.random.default_rng((self.seed, int(epoch), 1)).integers(lo, hi + 1, len(plan))
        return np.concatenate([plan, shifts[:, None]], axis=1)

    def collate(self, items) -> tuple[torch.Tensor, ...]:
        """Chunks ``[(song, start), ...]`` or ``[(song, start, shift), ...]`` -> a batch of B chunks.

        Returns feats (B, C, F, L + 2k) float32, targets (B, L, 3) int64 and mask
        (B, L) bool (False for frames outside the song), then, when the songs carry
        pitch, f0 (B, L) float32 Hz (0 = unvoiced or outside the song); one copy of
        each chunk's frames, straight into the batch arrays. A chunk shifted by ``s``
        bins has ``feats'[..., f, :] = feats[..., f - s, :]`` (0 outside) and f0
        ``* 2 ** (s / 48)``.
        """
        L, k, n_bins = self.chunk_frames, self.context, self.n_bins
        feats = np.zeros((len(items), self.n_channels, n_bins, L + 2 * k), dtype=np.float32)
        targets = np.zeros((len(items), L, 3), dtype=np.int64)
        mask = np.zeros((len(items), L), dtype=bool)
        pitch = np.zeros((len(items), L), dtype=np.float32)
        for b, item in enumerate(items):
            song, start = int(item[0]), int(item[1])
            shift = int(item[2]) if len(item) > 2 else 0
            song_feats, song_targets = self.feats[song], self.targets[song]
            n = song_targets.shape[0]
            lo, hi = max(start - k, 0), min(start + L + k, n)
            src = song_feats[:, max(-shift, 0) : n_bins - max(shift, 0), lo:hi]
            feats[b, :, max(shift, 0) : n_bins + min(shift, 0), lo - (start - k) : hi - (start - k)] = src
            lo, hi = max(start, 0), min(start + L, n)
            targets[b, lo - start : hi - start] = song_targets[lo:hi]
            mask[b, lo - start : hi - start] = True
            if self.pitch:
                pitch[b, lo - start : hi - start] = self.pitch[song][lo:hi] * np.float32(
                    2.0 ** (shift / BINS_PER_OCTAVE)
                )
        out = (torch.from_numpy(feats), torch.from_numpy(targets), torch.from_numpy(mask))
        return out + (torch.from_numpy(pitch),) if self.pitch else out

    def epoch_batches(self, epoch: int, batch_size: int) -> "EpochBatches":
        """The batches of epoch ``epoch``: a lazy sequence of :meth:`collate` outputs (last one may be short)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise InputError(f"data.batch_size={batch_size!r} must be a positive integer")
        plan = self.epoch_plan(epoch)
        return EpochBatches(self, [plan[i : i + batch_size] for i in range(0, len(plan), batch_size)])


class EpochBatches(Sequence):
    """A lazy sequence of batches: ``len``, iteration, indexing (builds the batch) and slicing."""

    def __init__(self, dataset: ChunkDataset, batches: list):
        self.dataset, self.batches = dataset, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return EpochBatches(self.dataset, self.batches[i])
        return self.dataset.collate(self.batches[i])
