"""Whole-song note decoding: the best note sequence under a note HMM (``decode=segments``).

A decoder of the :mod:`gru_attn.decode` protocol. Instead of cutting notes at picked
onset/offset peaks, it finds the single most likely sequence of rests and notes for
the whole song with the Viterbi algorithm (a dynamic programme over frames), in the
spirit of pYIN/Tony's note HMM and of pitch-only segmenters with a per-note cost.

Model (20 ms frames; every cost is a negative log-probability in nats, summed over
frames and transitions; the path with the smallest total wins):

- **States**: ``rest``, and ``note p`` for every semitone ``p`` of the song's range
  (the voiced contour's range +- 2 semitones).
- **Voicing**: ``v`` (T,) = ``(1 - voicing_mix) * voiced + voicing_mix * pitch voicing``
  (the pitch head's voicing when there is one). Per frame, ``rest`` costs
  ``-voicing_weight * log(1 - v)`` and any note ``-voicing_weight * log(v) + voicing_bias``
  (a bias > 0 trims notes where the voicing lingers, e.g. in reverberation).
- **Level tail** (only with the audio level ``level_db`` and ``tail_weight > 0``): a note
  frame also costs ``tail_weight * clip((max L[t-k..t] - L[t] - tail_min_db) / tail_span_db, 0, 1)``
  (``L`` the level in dB, ``k = tail_frames``): how far the level has fallen below its recent
  maximum. After a voice stops, a room's tail keeps the voicing high while the level decays,
  so the note ends where the fall begins; steady notes (level near its recent maximum) and
  vibrato wobble below ``tail_min_db`` pay nothing.
- **Level head** (only with ``level_db`` and ``head_weight > 0``): the mirror image, a note
  frame also costs ``head_weight * clip((max L[t..t+k] - L[t] - head_min_db) / head_span_db, 0, 1)``
  (``k = head_frames``): how far the level lies below what it reaches in the next frames.
  A voiced leading consonant (m, n, l, v) is quieter than the vowel after it; the voicing
  head of an unfamiliar voice fires on it, and the note would start 50-150 ms early. The
  convention starts a note at its vowel, and this term moves the start there
  (experiments/level_head). Only the last ``head_frames`` of a lead-in pay: a longer
  quiet voiced stretch keeps its early part, which may leave a short fragment before it.
- **Pitch**: a note ``p`` also costs ``pitch_weight * v * c(t, p)``:
  with ``pitch_source=distribution`` (and a pitch head) ``c = min(-log(m + 0.01), pitch_cap)``
  where ``m`` is the head's probability mass within ``p +- (0.5 + pitch_tolerance)`` semitones;
  otherwise (or without a head) ``c = min((midi - p)^2 / (2 pitch_sigma^2), pitch_cap)``
  on the contour (the head's f0 on every frame when given). Weighting by ``v`` lets
  unvoiced consonants inside a note pass without a pitch change.
- **Transitions** (paid on the frame a note starts or ends; ``on``/``off`` are the
  onset/offset probabilities):

  * ``rest -> note`` (a new note): ``note_cost - onset_weight * on(t)``;
  * ``note p -> note q != p`` (a pitch change, e.g. a melisma): the same plus
    ``change_cost``;
  * ``note p -> new note p`` (a repeated same-pitch note without a rest between, where
    the onset is the only evidence): ``note_cost + repeat_cost - on*(t) * (repeat_onset_weight +
    repeat_dip_weight * dip(t)) - level(t)``, with ``on*`` the onset curve at its local maxima
    (0 elsewhere) and ``dip(t) = 1 - min v`` over ``t +- dip_frames``: inside a steady
    vowel (``v`` near 1) a spurious onset peak alone cannot pay for a split unless
    ``repeat_onset_weight`` exceeds ``note_cost + repeat_cost``;
  * the **level-dip term** ``level(t)`` (only with the audio level ``level_db`` (T,) dB,
    :func:`gru_attn.level.level_db`, and ``repeat_level_weight > 0``; 0 otherwise): legato
    re-attacks of a repeated note dip the audio level by 6 dB or more within 60 ms in dry
    and accompanied audio, where the network's onset peak is weak and the voicing does not
    dip (experiments/reattack_dips). The dip ``ldip(t) = clip((min(max L[t-k:t],
    max L[t+1:t+k+1]) - L[t] - level_min_db) / (level_dip_db - level_min_db), 0, 1)``
    (``L`` the level in dB, ``k = level_frames``; frames beyond the ends do not count;
    dips shallower than ``level_min_db``, common inside notes in reverberation, count 0) and
    ``level(t) = repeat_level_weight * ((1 - level_gate) * ldip(t) + level_gate * on*(t) *
    max ldip over t +- dip_frames) * (1 - dip(t))``: the factor ``1 - dip`` keeps the term
    where the voicing does not dip (a legato re-attack) and drops it where it does (a rest
    or a consonant, which the path already crosses through ``rest``; a large discount
    there would pull notes across rests). With ``level_gate = 1`` a dip counts only at an
    onset peak, in proportion to it; with 0 a dip alone can pay for the split. In
    reverberation dips fill in at re-attacks and shallow dips appear inside notes:
    ``level_min_db`` ignores those. The class defaults switch the term off
    (``repeat_level_weight = 0``, as in checkpoints written before it existed); the shape
    defaults are the tuned ones of ``conf/decode/segments.yaml`` (experiments/reattack_dips);
  * ``note -> rest``: ``end_cost - offset_weight * off(t)`` (offsets are trusted weakly);
  * staying costs nothing.

A same-pitch note separated by a real voicing dip needs no onset at all: the path
goes through ``rest`` for the dip frames. Notes shorter than ``min_note_frames`` are
dropped afterwards; before that, with ``glide_frames > 0``, a short note that scoops from a
rest into the next note (its contour moving toward the next note's pitch) joins that note,
which then starts at the scoop (the onset lies where the voice starts; the pitch is that of
the note it reaches). A note's pitch is the median of the contour (fractional MIDI) over
its voiced frames (the fallback contour, then the state's semitone, when none);
rounded with ``round_pitch``. A note over frames ``[a, e)`` runs from
``frame_to_time(a)`` to ``frame_to_time(e)`` (as :func:`gru_attn.decode.decode_notes`).

Cost: one pass over the frames with O(states) numpy work each (about 2-4 ms per
second of audio on one core).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from gru_attn.cfp import BINS_PER_OCTAVE, F_LOW
from gru_attn.errors import InputError
from gru_attn.frames import frame_to_time
from gru_attn.notes import NoteList, hz_to_midi

TARGET = "gru_attn.segments.SegmentDecoder"
BIN0_MIDI = 69.0 + 12.0 * np.log2(F_LOW / 440.0)  # MIDI of pitch bin 0 (the CFP grid's lowest bin)
BINS_PER_SEMITONE = BINS_PER_OCTAVE / 12  # 4: the pitch head's bins are the CFP bins
EPS = 1e-4  # floor of probabilities inside logs
RANGE_MARGIN = 2  # semitones of states beyond the voiced contour's range
GLIDE_MIN_SEMITONES = 0.5  # a scoop starts at least this far from the note it reaches, and moves this far toward it
GLIDE_STEP_BACK = 0.1  # ... never stepping back by more than this (semitones per frame)


@dataclass(frozen=True)
class SegmentDecoder:
    """Note-HMM decoder settings (costs in nats, lengths in 20 ms frames, pitches in semitones).

    See the module docstring for the model each setting weighs.
    """

    voicing_weight: float = 1.0
    voicing_mix: float = 0.5
    voicing_bias: float = 0.0
    pitch_weight: float = 1.0
    pitch_source: str = "distribution"
    pitch_sigma: float = 0.5
    pitch_cap: float = 4.0
    pitch_tolerance: float = 0.25
    note_cost: float = 4.0
    onset_weight: float = 1.0
    change_cost: float = 0.0
    repeat_cost: float = 1.0
    repeat_onset_weight: float = 2.0
    repeat_dip_weight: float = 6.0
    dip_frames: int = 2
    repeat_level_weight: float = 0.0  # 0: no level-dip term (conf/decode/segments.yaml turns it on)
    level_dip_db: float = 14.5
    level_min_db: float = 7.5
    level_frames: int = 2
    level_gate: float = 0.0
    tail_weight: float = 0.0
    tail_frames: int = 5
    tail_min_db: float = 6.0
    tail_span_db: float = 10.0
    head_weight: float = 0.0
    head_frames: int = 6
    head_min_db: float = 8.0
    head_span_db: float = 6.0
    end_cost: float = 0.0
    offset_weight: float = 0.5
    min_note_frames: int = 3
    glide_frames: int = 0  # 0: off
    round_pitch: bool = False

    def __post_init__(self):
        for name in (
            "voicing_weight",
            "pitch_weight",
            "pitch_sigma",
            "pitch_cap",
            "note_cost",
            "onset_weight",
            "repeat_onset_weight",
            "repeat_dip_weight",
            "repeat_level_weight",
            "offset_weight",
            "pitch_tolerance",
            "tail_weight",
            "tail_min_db",
            "head_weight",
            "head_min_db",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InputError(f"decode.{name} must be a number >= 0, got {value!r}")
        if self.pitch_sigma <= 0:
            raise InputError(f"decode.pitch_sigma must be > 0 semitones, got {self.pitch_sigma}")
        for name in ("change_cost", "repeat_cost", "end_cost", "voicing_bias"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise InputError(f"decode.{name} must be a number, got {value!r}")
        for name in ("voicing_mix", "level_gate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise InputError(f"decode.{name} must be a number in [0, 1], got {value!r}")
        value = self.level_dip_db
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < np.inf:
            raise InputError(f"decode.level_dip_db must be a number of dB > 0, got {value!r}")
        value = self.level_min_db
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < self.level_dip_db:
            raise InputError(
                f"decode.level_min_db must be a number of dB >= 0 and < level_dip_db ({self.level_dip_db}), "
                f"got {value!r}"
            )
        for name in ("tail_span_db", "head_span_db"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < np.inf:
                raise InputError(f"decode.{name} must be a number of dB > 0, got {value!r}")
        if self.pitch_source not in ("distribution", "contour"):
            raise InputError(f"decode.pitch_source must be distribution or contour, got {self.pitch_source!r}")
        for name, least in (
            ("dip_frames", 0),
            ("level_frames", 1),
            ("tail_frames", 1),
            ("head_frames", 1),
            ("min_note_frames", 1),
            ("glide_frames", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < least:
                raise InputError(f"decode.{name} must be a whole number of frames >= {least}, got {value}")

    def as_dict(self) -> dict:
        """The settings with ``_target_`` (for checkpoints and logs)."""
        return {"_target_": TARGET, **asdict(self)}

    @property
    def reads_level(self) -> bool:
        """Whether ``level_db`` changes the result (a level term is on)."""
        return self.repeat_level_weight > 0 or self.tail_weight > 0 or self.head_weight > 0

    def __call__(
        self, probs, pitch_hz, fallback_hz=None, pitch_dist=None, pitch_voicing=None, level_db=None
    ) -> NoteList:
        """Decode one song's frame outputs (see :mod:`gru_attn.decode`) -> NoteList.

        ``level_db`` (T,) dB or None: the audio level on the frame grid (see the module
        docstring's level-dip term; unused while ``repeat_level_weight`` is 0).
        """
        probs = np.asarray(probs, dtype=np.float64)
        midi = hz_to_midi(pitch_hz)
        if probs.ndim != 2 or probs.shape[1] != 3 or len(midi) != len(probs):
            raise ValueError(
                f"SegmentDecoder: expected probs (T, 3) and pitch (T,), got {probs.shape} and {midi.shape}"
            )
        fallback = midi if fallback_hz is None else hz_to_midi(fallback_hz)
        if len(fallback) != len(midi):
            raise ValueError(f"SegmentDecoder: fallback pitch has {len(fallback)} frames, expected {len(midi)}")
        n = len(probs)
        voiced_any = ~np.isnan(fallback)
        if n == 0 or not voiced_any.any():
            return NoteList.empty()
        v = probs[:, 0]
        if pitch_voicing is not None and self.voicing_mix > 0:
            v = (1.0 - self.voicing_mix) * v + self.voicing_mix * np.asarray(pitch_voicing, dtype=np.float64)
        v = np.clip(v, EPS, 1.0 - EPS)
        # semitone states over the (confidently) voiced contour's range
        ref = fallback[voiced_any & (v >= 0.5)] if (voiced_any & (v >= 0.5)).any() else fallback[voiced_any]
        lo = int(np.floor(np.percentile(ref, 1))) - RANGE_MARGIN
        hi = int(np.ceil(np.percentile(ref, 99))) + RANGE_MARGIN
        states = np.arange(lo, hi + 1, dtype=np.float64)  # (P,)
        pitch_cost = self._pitch_cost(fallback, states, pitch_dist)  # (T, P)
        note_emit = (self.voicing_bias - self.voicing_weight * np.log(v))[:, None] + self.pitch_weight * v[
            :, None
        ] * pitch_cost
        level = _level(level_db, n) if level_db is not None and self.reads_level else None
        if level is not None and self.tail_weight > 0:
            note_emit = note_emit + self.tail_weight * self._tail(level)[:, None]
        if level is not None and self.head_weight > 0:
            note_emit = note_emit + self.head_weight * self._head(level)[:, None]
        rest_emit = -self.voicing_weight * np.log1p(-v)
        on, off = probs[:, 1], probs[:, 2]
        start = self.note_cost - self.onset_weight * on  # (T,)
        change = start + self.change_cost
        peak = on * (on >= np.r_[0.0, on[:-1]]) * (on > np.r_[on[1:], 0.0])
        dip = 1.0 - minimum_filter1d(v, 2 * self.dip_frames + 1, mode="nearest")
        repeat = self.note_cost + self.repeat_cost - peak * (self.repeat_onset_weight + self.repeat_dip_weight * dip)
        if level is not None and self.repeat_level_weight > 0:
            repeat = repeat - self.repeat_level_weight * self._level_term(level, peak, dip)
        end = self.end_cost - self.offset_weight * off
        path, new_note = _viterbi(rest_emit, note_emit, start, change, repeat, end)
        return self._notes(path, new_note, states, midi, fallback)

    def _level_term(self, level: np.ndarray, peak: np.ndarray, dip: np.ndarray) -> np.ndarray:
        """(T,) level-dip discount before ``repeat_level_weight`` (the module docstring's ``level / weight``)."""
        ldip = level_dips(level, self.level_frames, self.level_dip_db, self.level_min_db)
        near = maximum_filter1d(ldip, 2 * self.dip_frames + 1, mode="nearest")
        # only where the voicing does not already dip
        return ((1.0 - self.level_gate) * ldip + self.level_gate * peak * near) * (1.0 - dip)

    def _tail(self, level: np.ndarray) -> np.ndarray:
        """(T,) in [0, 1]: how far the level has fallen below its maximum over the last
        ``tail_frames`` frames, beyond ``tail_min_db``, over ``tail_span_db``."""
        return _below_max(level, self.tail_frames, self.tail_min_db, self.tail_span_db)

    def _head(self, level: np.ndarray) -> np.ndarray:
        """(T,) in [0, 1]: the same looking ahead, over the next ``head_frames`` frames."""
        return _below_max(level[::-1], self.head_frames, self.head_min_db, self.head_span_db)[::-1]

    def _pitch_cost(self, fallback: np.ndarray, states: np.ndarray, pitch_dist) -> np.ndarray:
        """(T, P) pitch cost of each semitone state per frame (nats before ``pitch_weight``)."""
        if self.pitch_source == "distribution" and pitch_dist is not None:
            dist = np.asarray(pitch_dist, dtype=np.float64)
            cum = np.concatenate([np.zeros((len(dist), 1)), np.cumsum(dist, axis=1)], axis=1)  # (T, n_bins + 1)
            half = 0.5 + self.pitch_tolerance
            edges = (states[:, None] + np.array([-half, half]) - BIN0_MIDI) * BINS_PER_SEMITONE + 0.5
            edges = np.clip(np.rint(edges), 0, dist.shape[1]).astype(np.int64)  # bins [a, b) per state
            mass = cum[:, edges[:, 1]] - cum[:, edges[:, 0]]
            return np.minimum(-np.log(np.clip(mass, 0.0, 1.0) + 0.01), self.pitch_cap)
        d = np.nan_to_num(fallback, nan=-1e3)[:, None] - states[None, :]
        return np.minimum(d * d / (2.0 * self.pitch_sigma**2), self.pitch_cap)

    def _merge_glides(
        self, starts: np.ndarray, ends: np.ndarray, path: np.ndarray, midi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fold scooped attacks into the note they reach: (n,) start / end frames -> fewer notes.

        A note of at most ``glide_frames`` frames that starts after a rest (or at the song's
        start), runs straight into the next note (no rest between) and passes :func:`is_scoop`
        joins the next note, which then starts at the scoop's start.
        """
        starts, ends = list(starts), list(ends)
        i = 0
        while i < len(starts) - 1:
            a, e = starts[i], ends[i]
            after_rest = a == 0 or path[a - 1] < 0
            if e - a <= self.glide_frames and e == starts[i + 1] and after_rest:
                if is_scoop(midi[a:e], midi[starts[i + 1] : ends[i + 1]]):
                    starts[i + 1] = a
                    del starts[i], ends[i]
                    continue
            i += 1
        return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)

    def _notes(
        self, path: np.ndarray, new_note: np.ndarray, states: np.ndarray, midi: np.ndarray, fallback: np.ndarray
    ) -> NoteList:
        """Viterbi path (T,) (-1 = rest, else state index) + (T,) note-start flags -> NoteList."""
        n = len(path)
        in_note = path >= 0
        starts = np.flatnonzero(in_note & new_note)
        ends = np.r_[starts[1:], n]
        # a note also ends at the first rest frame after its start
        rest_frames = np.flatnonzero(~in_note)
        k = np.searchsorted(rest_frames, starts)
        first_rest = np.where(k < len(rest_frames), rest_frames[np.minimum(k, len(rest_frames) - 1)], n)
        ends = np.minimum(ends, first_rest)
        if self.glide_frames > 0:
            starts, ends = self._merge_glides(starts, ends, path, midi)
        keep = ends - starts >= self.min_note_frames
        starts, ends = starts[keep], ends[keep]
        if len(starts) == 0:
            return NoteList.empty()
        pitch = np.empty(len(starts))
        for i, (a, e) in enumerate(zip(starts, ends)):
            seg = midi[a:e]
            if np.isnan(seg).all():
                seg = fallback[a:e]
            pitch[i] = np.nanmedian(seg) if not np.isnan(seg).all() else states[path[a]]
        if self.round_pitch:
            pitch = np.rint(pitch)
        return NoteList(frame_to_time(starts), frame_to_time(ends), pitch)


def is_scoop(contour: np.ndarray, next_contour: np.ndarray) -> bool:
    """Whether a short note's contour (MIDI, NaN = unvoiced) glides into the next note's.

    At least 2 voiced frames, starting at least :data:`GLIDE_MIN_SEMITONES` from the next
    note's median pitch, moving at least that far toward it in all, and never stepping
    back by more than :data:`GLIDE_STEP_BACK` semitone.
    """
    seg = contour[~np.isnan(contour)]
    nxt = next_contour[~np.isnan(next_contour)]
    if len(seg) < 2 or len(nxt) == 0:
        return False
    target = np.median(nxt)
    steps = np.diff(seg) * np.sign(target - seg[0])  # > 0: toward the next note
    return bool(
        abs(target - seg[0]) >= GLIDE_MIN_SEMITONES
        and steps.sum() >= GLIDE_MIN_SEMITONES
        and steps.min() >= -GLIDE_STEP_BACK
    )


def level_dips(level: np.ndarray, frames: int, full_db: float, min_db: float = 0.0) -> np.ndarray:
    """(T,) level dip in [0, 1] of a (T,) dB level curve: ``depth`` = how far frame t lies
    below the lower of the maxima over the ``frames`` frames before and after it (0 where
    a side has no frame; NaN levels count as no dip), mapped linearly from ``min_db`` (0)
    to ``full_db`` (1) and clipped."""
    level = np.nan_to_num(np.asarray(level, dtype=np.float64), nan=np.inf, posinf=np.inf, neginf=-np.inf)
    n = len(level)
    padded = np.concatenate([np.full(frames, -np.inf), level, np.full(frames, -np.inf)])
    side_max = np.lib.stride_tricks.sliding_window_view(padded, frames).max(axis=1)  # (T + frames + 1,)
    before, after = side_max[:n], side_max[frames + 1 : frames + 1 + n]
    with np.errstate(invalid="ignore"):
        depth = np.minimum(before, after) - level
    depth = np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip((depth - min_db) / (full_db - min_db), 0.0, 1.0)


def _viterbi(rest_emit, note_emit, start, change, repeat, end) -> tuple[np.ndarray, np.ndarray]:
    """Most likely state path of the note HMM.

    ``rest_emit`` (T,), ``note_emit`` (T, P): per-frame costs; ``start``, ``change``,
    ``repeat``, ``end`` (T,): costs of entering a note from rest, from another pitch, of
    restarting the same pitch, and of leaving a note for rest at frame t. Returns
    ``(path, new_note)``: (T,) int state (-1 = rest, else pitch index) and (T,) bool (a
    note starts at t).

    Every note state has the same entry cost from outside itself, so per frame only the
    best entry (from rest or from the best other note) and, for the best note itself,
    the second best note are needed: O(P) work per frame.
    """
    n, p = note_emit.shape
    stayed = np.zeros((n, p), dtype=bool)  # note state s at t came from s at t - 1
    entry = np.full(n, -1, dtype=np.int64)  # where other notes were entered from at t (-1 = rest)
    entry_best = np.full(n, -1, dtype=np.int64)  # ... and the best note of t - 1 (it cannot come from itself)
    best_at = np.zeros(n, dtype=np.int64)  # the best note of t - 1
    rest_from = np.full(n, -1, dtype=np.int64)  # rest at t came from this note (-1 = rest)
    restart = np.minimum(repeat, 0.0)
    rest = float(rest_emit[0])
    notes = note_emit[0] + start[0]
    work = np.empty(p)
    inf = np.inf
    for t in range(1, n):
        i1 = int(notes.argmin())
        m1 = float(notes[i1])
        np.copyto(work, notes)
        work[i1] = inf
        m2 = float(work.min()) if p > 1 else inf
        i2 = int(work.argmin()) if p > 1 else -1
        from_rest = rest + start[t]
        alt, alt_src = (from_rest, -1) if from_rest <= m1 + change[t] else (m1 + change[t], i1)
        alt1, alt1_src = (from_rest, -1) if from_rest <= m2 + change[t] else (m2 + change[t], i2)
        notes += restart[t]
        work.fill(alt)
        work[i1] = alt1
        stay = np.less_equal(notes, work, out=stayed[t])
        np.minimum(notes, work, out=notes)
        entry[t], entry_best[t], best_at[t] = alt_src, alt1_src, i1
        leave = m1 + end[t]
        if leave < rest:
            rest, rest_from[t] = leave, i1
        rest += rest_emit[t]
        notes += note_emit[t]
        del stay
    # backtrack
    path = np.empty(n, dtype=np.int64)
    new_note = np.zeros(n, dtype=bool)
    s = -1 if rest <= notes.min() else int(notes.argmin())
    restarts = restart < 0
    for t in range(n - 1, -1, -1):
        path[t] = s
        if t == 0:
            new_note[0] = s >= 0
            break
        if s < 0:
            s = int(rest_from[t])
        elif stayed[t, s]:
            new_note[t] = restarts[t]
        else:
            new_note[t] = True
            s = int(entry_best[t] if s == best_at[t] else entry[t])
    return path, new_note


def _level(level_db, n: int) -> np.ndarray:
    """``level_db`` as (T,) float64 dB (NaN: unknown); ValueError if not (n,)."""
    level = np.asarray(level_db, dtype=np.float64)
    if level.shape != (n,):
        raise ValueError(f"SegmentDecoder: expected level_db (T,) = ({n},), got {level.shape}")
    return level


def _below_max(level: np.ndarray, frames: int, min_db: float, span_db: float) -> np.ndarray:
    """(T,) in [0, 1]: ``clip((max level[t-frames..t] - level[t] - min_db) / span_db, 0, 1)``;
    unknown (NaN) frames count 0 and do not raise the maximum (as in :func:`level_dips`)."""
    known = np.nan_to_num(level, nan=-np.inf)
    recent = maximum_filter1d(known, frames + 1, origin=frames // 2, mode="nearest")
    with np.errstate(invalid="ignore"):  # -inf - -inf where a whole window is unknown
        below = np.clip((recent - known - min_db) / span_db, 0.0, 1.0)
    return np.where(np.isnan(level) | np.isnan(below), 0.0, below)
