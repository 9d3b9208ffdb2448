"""The canonical note list and its readers/writers.

A :class:`NoteList` holds notes as three aligned float64 arrays: onset and offset in
seconds and pitch as (fractional) MIDI note number; ``hz`` derives the pitch in Hz.

File formats (``read_notes`` / ``write_notes``; the format comes from the extension
unless ``fmt`` names it):

===========  ==========  ==================================================================
extension    ``fmt``     content
===========  ==========  ==================================================================
``.csv``     ``csv``     comma-separated with a header line, one of
                         ``onset,offset,midi`` / ``onset,offset,hz`` /
                         ``onset,offset,midi,hz`` (what ``transcribe`` writes; ``midi`` is
                         read) / ``start_time,end_time,frequency`` (the seed guide, Hz) /
                         ``onset_s,offset_s,midi``; any of these may end with a
                         ``confidence`` column (0..1, what ``transcribe`` adds; not kept in
                         the NoteList). A header alone is a song without notes.
``.json``    ``json``    MIR-ST500: ``{"<song id>": [[onset, offset, midi], ...], ...}``;
                         ``song`` picks the entry when there is more than one. The writer
                         uses the file stem as the song id unless ``song`` is given.
``.txt``,    ``txt``     whitespace-separated ``onset offset midi``, one note a line, no
``.notes``               header (ISMIR2014 style); blank lines and lines starting with
                         ``#`` are ignored. Exactly three fields a line.
``.mid``,    ``midi``    standard MIDI file via pretty_midi. Reading merges the notes of
``.midi``                all non-drum instruments. Writing stores one piano track at
                         ``tempo`` bpm (default 120, 4..400; rounded to a whole number of
                         microseconds a beat, as MIDI stores it) with at least 960 ticks a
                         beat and at most 0.52 ms a tick, so times in seconds come back
                         within 0.3 ms at any tempo; the pitch is rounded to the nearest
                         integer MIDI number (the fractional part is lost) and must lie in
                         0..127.
===========  ==========  ==================================================================

Validation (every reader): each note needs finite numbers, ``onset >= 0``,
``offset > onset`` and a pitch above 0 Hz. Notes are sorted by onset; input out of
order is accepted silently as long as no two notes overlap (a note may start where
the previous one ends, within 1e-6 s; ``overlaps=True`` accepts overlapping notes, e.g. a
polyphonic transcriber's estimates). Anything else raises :class:`InputError`
naming the file and the line (1-based, as in the file) or the note.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gru_attn.errors import InputError
from gru_attn.files import check_readable, write_bytes


def midi_to_hz(midi) -> np.ndarray:
    """MIDI note number (any shape) -> Hz (A4 = MIDI 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(hz) -> np.ndarray:
    """Hz (any shape) -> fractional MIDI note number; NaN where ``hz`` is not a finite
    positive frequency (an unvoiced frame of a pitch contour: 0, negative or NaN)."""
    hz = np.asarray(hz, dtype=np.float64)
    voiced = np.isfinite(hz) & (hz > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(voiced, 69.0 + 12.0 * np.log2(np.where(voiced, hz, 440.0) / 440.0), np.nan)


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

    @classmethod
    def from_rows(cls, rows) -> "NoteList":
        """(n, 3) rows ``(onset s, offset s, midi)`` (array or list of triples) -> NoteList sorted by onset."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        return cls(rows[:, 0], rows[:, 1], rows[:, 2]).sorted()

    def to_rows(self) -> np.ndarray:
        """(n, 3) float64 rows ``(onset s, offset s, midi)``."""
        return np.stack([self.onsets, self.offsets, self.midi], axis=1)

    def sorted(self) -> "NoteList":
        """The same notes ordered by onset (stable)."""
        order = np.argsort(self.onsets, kind="stable")
        return NoteList(self.onsets[order], self.offsets[order], self.midi[order])

    def shift(self, semitones: float) -> "NoteList":
        """The same notes transposed by ``semitones`` (may be fractional or negative)."""
        return NoteList(self.onsets, self.offsets, self.midi + float(semitones))

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


# --------------------------------------------------------------------------- formats

NOTE_FORMATS = {".csv": "csv", ".json": "json", ".txt": "txt", ".notes": "txt", ".mid": "midi", ".midi": "midi"}
NOTE_EXTENSIONS = tuple(NOTE_FORMATS)  # file extensions read_notes/write_notes understand

# CSV header (lower-cased, stripped) -> (column of onset, offset, pitch; pitch unit)
CSV_HEADERS = {
    ("onset", "offset", "midi"): ((0, 1, 2), "midi"),
    ("onset", "offset", "hz"): ((0, 1, 2), "hz"),
    ("onset", "offset", "midi", "hz"): ((0, 1, 2), "midi"),
    ("start_time", "end_time", "frequency"): ((0, 1, 2), "hz"),
    ("onset_s", "offset_s", "midi"): ((0, 1, 2), "midi"),
}
CSV_COLUMNS = ("onset", "offset", "midi", "hz", "confidence")  # what write_notes(columns=...) may pick from
CONFIDENCE = "confidence"  # optional last CSV column

OVERLAP_TOLERANCE_S = 1e-6  # a note may start this much before the previous one ends
MIDI_RESOLUTION = 960  # ticks per beat at 120 bpm: 0.52 ms a tick
MIDI_TEMPO, MIDI_TEMPO_RANGE = 120.0, (4.0, 400.0)  # default and allowed bpm of written MIDI files
TIME_DECIMALS, MIDI_DECIMALS, HZ_DECIMALS, CONFIDENCE_DECIMALS = 6, 4, 3, 4  # digits written to text formats


def note_format(path, fmt: str | None = None) -> str:
    """The format name (``csv``/``json``/``txt``/``midi``) for ``path``, from ``fmt`` or the extension."""
    if fmt is not None:
        if fmt not in set(NOTE_FORMATS.values()):
            raise InputError(f"{path}: unknown note format {fmt!r}; expected one of csv, json, txt, midi")
        return fmt
    ext = Path(path).suffix.lower()
    if ext not in NOTE_FORMATS:
        raise InputError(f"{path}: unknown note file extension {ext!r}; expected one of {', '.join(NOTE_EXTENSIONS)}")
    return NOTE_FORMATS[ext]


def read_notes(path, fmt: str | None = None, song: str | None = None, overlaps: bool = False) -> NoteList:
    """Read a note file (see the module docstring for formats) -> validated NoteList sorted by onset.

    ``song`` selects the entry of a MIR-ST500 JSON file holding several songs;
    ``overlaps``: accept notes that overlap in time (polyphonic estimates).
    Raises :class:`InputError` for a missing, unreadable or malformed file.
    """
    path = Path(path)
    kind = note_format(path, fmt)
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: note file not found")
    check_readable(path, "a note file")  # a symlink loop, a folder, permission denied
    if kind == "midi":
        return _read_midi(path, overlaps)
    text = _read_text(path)
    if kind == "csv":
        return _read_csv(path, text, overlaps)
    if kind == "json":
        return _read_json(path, text, song, overlaps)
    return _read_txt(path, text, overlaps)


def write_notes(
    notes: NoteList,
    path,
    fmt: str | None = None,
    columns=("onset", "offset", "midi"),
    song: str | None = None,
    tempo: float = MIDI_TEMPO,
    confidence=None,
    overlaps: bool = False,
) -> None:
    """Write ``notes`` atomically to ``path`` in the format of its extension (or ``fmt``).

    ``columns`` (CSV only) picks and orders the CSV columns from ``CSV_COLUMNS``; it
    must hold ``onset`` and ``offset`` then ``midi`` and/or ``hz`` (a header the reader
    knows), optionally followed by ``confidence``, whose (n,) values in 0..1 are
    ``confidence``. ``song`` (JSON only) is the song id, the file stem by default.
    ``tempo`` (MIDI only) is the file's tempo in bpm; note times stay in seconds.
    ``overlaps``: accept notes that overlap in time (polyphonic estimates).
    """
    path = Path(path)
    kind = note_format(path, fmt)
    _validate(
        path, notes.onsets, notes.offsets, notes.midi, "midi", [f"note {i + 1}" for i in range(len(notes))], overlaps
    )
    if kind == "csv":
        data = _csv_text(path, notes, tuple(columns), confidence).encode()
    elif kind == "json":
        data = _json_text(notes, song if song is not None else path.stem).encode()
    elif kind == "txt":
        data = "".join(f"{a} {b} {c}\n" for a, b, c in _formatted(notes, ("onset", "offset", "midi"))).encode()
    else:
        data = _midi_bytes(path, notes, tempo)
    write_bytes(path, data)


# --------------------------------------------------------------------------- validation


def _validate(path, onsets, offsets, pitch, unit: str, where: list[str], overlaps: bool = False) -> np.ndarray:
    """Check notes read from ``path``; return the indices that sort them by onset.

    ``pitch`` is in ``unit`` ("midi" or "hz"); ``where[i]`` names note ``i`` in messages
    (e.g. "line 4"). Raises InputError at the first bad note.
    """
    onsets, offsets, pitch = (np.asarray(a, dtype=np.float64) for a in (onsets, offsets, pitch))
    checks = (
        (~(np.isfinite(onsets) & np.isfinite(offsets) & np.isfinite(pitch)), "values must be finite numbers"),
        (onsets < 0, "onset must be >= 0 s"),
        (offsets <= onsets, "offset must be greater than onset"),
        ((pitch <= 0) if unit == "hz" else np.zeros(len(pitch), bool), "frequency must be > 0 Hz"),
    )
    for bad, message in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"{path}: {where[i]}: {message} (got onset {onsets[i]}, offset {offsets[i]}, {unit} {pitch[i]})"
            )
    order = np.argsort(onsets, kind="stable")
    overlap = onsets[order][1:] < offsets[order][:-1] - OVERLAP_TOLERANCE_S
    if overlap.any() and not overlaps:
        i = int(np.argmax(overlap))
        prev, nxt = order[i], order[i + 1]
        raise InputError(
            f"{path}: {where[nxt]}: note starting at {onsets[nxt]} s overlaps the note of "
            f"{where[prev]} ({onsets[prev]}-{offsets[prev]} s); expected monophonic notes"
        )
    return order


def _build(path, rows: list[tuple], where: list[str], unit: str, overlaps: bool = False) -> NoteList:
    """Validated, sorted NoteList from parsed ``(onset, offset, pitch)`` rows in ``unit``."""
    if not rows:
        return NoteList.empty()
    onsets, offsets, pitch = np.asarray(rows, dtype=np.float64).T
    order = _validate(path, onsets, offsets, pitch, unit, where, overlaps)
    midi = hz_to_midi(pitch) if unit == "hz" else pitch
    return NoteList(onsets[order], offsets[order], midi[order])


def _numbers(path, where: str, fields, expected: str) -> tuple:
    """Parse ``fields`` as floats or raise InputError naming ``where`` and the expected layout."""
    try:
        return tuple(float(f) for f in fields)
    except ValueError:
        raise InputError(f"{path}: {where}: expected numbers {expected}, got {','.join(map(str, fields))!r}") from None


# --------------------------------------------------------------------------- readers


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read note file as UTF-8 text ({e})") from None


def _read_csv(path: Path, text: str, overlaps: bool = False) -> NoteList:
    reader = csv.reader(io.StringIO(text))
    lines = [(reader.line_num, row) for row in reader if any(f.strip() for f in row)]
    known = " | ".join(",".join(h) for h in CSV_HEADERS)
    if not lines:
        raise InputError(f"{path}: empty CSV; expected a header line ({known})")
    n, header = lines[0]
    key = tuple(f.strip().lower() for f in header)
    base = key[:-1] if key[-1:] == (CONFIDENCE,) else key
    if base not in CSV_HEADERS:
        raise InputError(
            f"{path}: line {n}: unknown CSV header {','.join(header)!r}; expected one of: {known} "
            f"(optionally followed by {CONFIDENCE})"
        )
    cols, unit = CSV_HEADERS[base]
    layout = f"({','.join(key)})"
    rows, where = [], []
    for n, row in lines[1:]:
        if len(row) != len(key):
            raise InputError(f"{path}: line {n}: expected {len(key)} comma-separated fields {layout}, got {len(row)}")
        values = _numbers(path, f"line {n}", [f.strip() for f in row], layout)
        rows.append(tuple(values[c] for c in cols))
        where.append(f"line {n}")
    return _build(path, rows, where, unit, overlaps)


def _read_txt(path: Path, text: str, overlaps: bool = False) -> NoteList:
    rows, where = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 3:
            raise InputError(
                f"{path}: line {n}: expected 3 whitespace-separated fields (onset offset midi), got {len(fields)}"
            )
        rows.append(_numbers(path, f"line {n}", fields, "(onset offset midi)"))
        where.append(f"line {n}")
    return _build(path, rows, where, "midi", overlaps)


def _read_json(path: Path, text: str, song: str | None, overlaps: bool = False) -> NoteList:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f'{path}: expected a MIR-ST500 JSON object {{"<song id>": [[onset, offset, midi], ...]}}')
    if song is None:
        if len(data) > 1:
            keys = ", ".join(list(data)[:5]) + (", ..." if len(data) > 5 else "")
            raise InputError(f"{path}: holds {len(data)} songs ({keys}); name one with song=...")
        song = next(iter(data))
    if str(song) not in data:
        raise InputError(f"{path}: no song {song!r} in this MIR-ST500 JSON file")
    entries = data[str(song)]
    if not isinstance(entries, list):
        raise InputError(f"{path}: song {song!r}: expected a list of [onset, offset, midi] notes")
    rows, where = [], []
    for i, entry in enumerate(entries):
        label = f"song {song!r} note {i + 1}"
        if (
            not isinstance(entry, list)
            or len(entry) != 3
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in entry)
        ):
            raise InputError(f"{path}: {label}: expected [onset, offset, midi] numbers, got {entry!r}")
        rows.append(tuple(float(x) for x in entry))
        where.append(label)
    return _build(path, rows, where, "midi", overlaps)


def _read_midi(path: Path, overlaps: bool = False) -> NoteList:
    import pretty_midi

    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # mido/pretty_midi raise many types for a corrupt file
        raise InputError(f"{path}: cannot read MIDI file ({type(e).__name__}: {e})") from None
    notes = sorted(
        ((n.start, n.end, float(n.pitch)) for inst in pm.instruments if not inst.is_drum for n in inst.notes),
        key=lambda n: n[0],
    )
    where = [f"note {i + 1} (onset {start:.3f} s)" for i, (start, _, _) in enumerate(notes)]
    return _build(path, notes, where, "midi", overlaps)


# --------------------------------------------------------------------------- writers


def _plain(x: float, decimals: int) -> str:
    """``x`` with at most ``decimals`` decimals and no trailing zeros (60.0 -> '60')."""
    text = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _formatted(notes: NoteList, columns: tuple, confidence=None) -> list[tuple[str, ...]]:
    """Rows of ``notes`` as text, one string per column of ``columns``."""
    values = {
        "onset": (notes.onsets, TIME_DECIMALS),
        "offset": (notes.offsets, TIME_DECIMALS),
        "midi": (notes.midi, MIDI_DECIMALS),
        "hz": (notes.hz, HZ_DECIMALS),
        CONFIDENCE: (confidence, CONFIDENCE_DECIMALS),
    }
    return [tuple(_plain(values[c][0][i], values[c][1]) for c in columns) for i in range(len(notes))]


def _csv_text(path: Path, notes: NoteList, columns: tuple, confidence=None) -> str:
    pitch = columns[2:-1] if columns[-1:] == (CONFIDENCE,) else columns[2:]
    if (
        not pitch
        or columns[:2] != ("onset", "offset")
        or not set(pitch) <= {"midi", "hz"}
        or len(set(columns)) != len(columns)
    ):
        raise InputError(
            f"{path}: CSV columns {columns!r} not supported; expected onset, offset, then midi and/or hz, "
            f"optionally {CONFIDENCE}"
        )
    if CONFIDENCE in columns:
        confidence = np.asarray(confidence if confidence is not None else [], dtype=np.float64).reshape(-1)
        if len(confidence) != len(notes) or not np.all((confidence >= 0) & (confidence <= 1)):
            raise InputError(
                f"{path}: the {CONFIDENCE} column needs one value in 0..1 per note "
                f"(got {len(confidence)} for {len(notes)} notes)"
            )
    lines = [",".join(columns)] + [",".join(row) for row in _formatted(notes, columns, confidence)]
    return "\n".join(lines) + "\n"


def _json_text(notes: NoteList, song: str) -> str:
    rows = [
        [round(float(a), TIME_DECIMALS), round(float(b), TIME_DECIMALS), round(float(c), MIDI_DECIMALS)]
        for a, b, c in notes.to_rows()
    ]
    return json.dumps({str(song): rows}) + "\n"


def _midi_bytes(path: Path, notes: NoteList, tempo: float = MIDI_TEMPO) -> bytes:
    import pretty_midi

    pitch = np.rint(notes.midi).astype(np.int64)
    bad = (pitch < 0) | (pitch > 127)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{path}: note {i + 1}: MIDI pitch {notes.midi[i]} outside 0..127")
    low, high = MIDI_TEMPO_RANGE
    try:
        tempo = float(tempo)
    except (TypeError, ValueError):
        tempo = math.nan
    if not low <= tempo <= high:
        raise InputError(f"{path}: tempo {tempo!r}: expected {low:g} to {high:g} bpm")
    # MIDI stores whole microseconds a beat; pretty_midi truncates what it computes from the
    # tempo, so aim a hair above that integer to get exactly it (and the ticks it implies)
    us_per_beat = round(60e6 / tempo)
    resolution = max(MIDI_RESOLUTION, math.ceil(MIDI_RESOLUTION * 120.0 * us_per_beat / 60e6))
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=60e6 / (us_per_beat + 1e-4))
    inst = pretty_midi.Instrument(program=0, name="voice")
    inst.notes = [
        pretty_midi.Note(velocity=100, pitch=int(p), start=float(a), end=float(b))
        for a, b, p in zip(notes.onsets, notes.offsets, pitch)
    ]
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()
