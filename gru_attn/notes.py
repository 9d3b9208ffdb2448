"""The canonical note list and its readers/writers.

A :class:`NoteList` holds notes as three aligned float64 arrays: onset and offset in
seconds and pitch as (fractional) MIDI note number; ``hz`` derives the pitch in Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def midi_to_hz(midi) -> np.ndarray:
    """MIDI note number (any shape) -> Hz (A4 = MIDI 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(hz) -> np.ndarray:
    """Hz (any shape, > 0) -> fractional MIDI note number."""
    return 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)


@dataclass(frozen=True)
class NoteList:
    """Notes sorted by onset: ``onsets``/``offsets`` (n,) seconds, ``midi`` (n,) MIDI numbers."""

    onsets: np.ndarray
    offsets: np.ndarray
    midi: np.ndarray

    def __post_init__(self):
        for name in ("onsets", "offsets", "midi"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64).reshape(-1))
        if not (len(self.onsets) == len(self.offsets) == len(self.midi)):
            raise ValueError("NoteList arrays must have the same length")

    @classmethod
    def empty(cls) -> "NoteList":
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return len(self.onsets)

    @property
    def hz(self) -> np.ndarray:
        """(n,) pitch in Hz."""
        return midi_to_hz(self.midi)

    @property
    def intervals(self) -> np.ndarray:
        """(n, 2) [onset, offset] seconds, the layout mir_eval expects."""
        return np.stack([self.onsets, self.offsets], axis=1) if len(self) else np.zeros((0, 2))
