"""gru_attn beside two peers a user can pip install, on the same labelled sets: note F1 per condition and RTF.

Usage::

    python benchmarks/bench_peers.py [--ckpt CKPT] [--sets devset,crossgen,corpus] [--set DIR ...]
        [--systems gru_attn,swift-f0,basic-pitch,basic-pitch-1voice] [--threads N]
        [--out outputs/bench_peers] [--markdown FILE]

Systems (each with its own bundled weights; nothing is downloaded):

- ``gru_attn``: the project's model, ``--ckpt`` (default: the packaged model, the one
  ``gru_attn/weights/*.pt`` file, when the package carries one), decoded as the
  checkpoint says, exactly as ``python -m gru_attn.transcribe`` does;
- ``swift-f0``: swift-f0 0.3.0, its ONNX pitch tracker on the file (``SwiftF0.detect_file``)
  and its own note segmenter ``segment_notes`` at default settings; note pitch = its fitted Hz;
- ``basic-pitch``: Basic Pitch 0.4.0 on onnxruntime (``nmp.onnx``, no TensorFlow), its
  ``predict`` at default thresholds (all notes, polyphonic);
- ``basic-pitch-1voice``: the same notes reduced to one voice: notes are taken loudest
  first (Basic Pitch's amplitude) and a note is dropped when it overlaps one already kept.

Install the peers (an optional extra, not core dependencies)::

    pip install -e .[peers]                       # swift-f0 and Basic Pitch's light dependencies
    pip install --no-deps basic-pitch==0.4.0      # Basic Pitch without TensorFlow

Sets (each song scored with :func:`gru_attn.evaluate.evaluate_notes`: mir_eval onset 50 ms,
pitch 50 cents, offset 20 % / 50 ms; means over songs per condition, then ``all``):

- ``devset``: ``--devset DIR`` (default ``../shared/devsets/resung`` beside the repository),
  ``wav/``, ``notes/`` and ``clips.csv`` (``name,cond``); absent: skipped with a note;
- ``crossgen``: the cross-generator set (:mod:`gru_attn.crossgen`, generated or reused in
  ``--crossgen DIR``, ``--crossgen-songs`` songs of 30 s per condition); without fluidsynth:
  skipped with a note;
- ``corpus``: the test split of the checkpoint's synthetic corpus (its WAVs; condition
  ``accompanied`` or ``voice`` as drawn), or of ``--corpus DIR`` (``wav/``, ``notes/``,
  ``splits.json``, optional ``corpus.json``);
- ``--set DIR`` (repeatable): any folder in the dev-set layout, named after the folder
  (conditions from its ``clips.csv`` when present, else one condition ``all``).

RTF = wall-clock seconds from the audio file to the notes (reading and resampling the
file included), summed over the songs, per second of audio. Loading each model happens
once, before, and is not counted; each system is warmed up on the first song first.
``--threads N`` gives torch and both ONNX Runtime sessions N threads (default: each
library's own default).

Writes ``<out>/notes/<system>/<set>[/<condition>]/<song>.csv`` (onset, offset, midi), so that
``python -m gru_attn.evaluate --est-dir ... --notes-dir ... --conditions <out>/sets/<part>.csv``
rescores any of them (the commands are in ``<out>/rescore.sh``), ``<out>/results.json`` (every number, per song too)
and ``<out>/table.md``; ``--markdown FILE`` writes the table there as well.
``--merge A/results.json B/results.json ...`` runs nothing: it prints (and with ``--markdown``
writes) one table of the rows of earlier runs, e.g. the peers run once and the model run
again after retraining (each row keeps the RTF measured in its own run).
Exit status 0, or 2 for a bad option, checkpoint, set or a selected peer that is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gru_attn.errors import InputError, print_error  # noqa: E402
from gru_attn.evaluate import CONDITIONS_FILE, condition_means, evaluate_notes, read_conditions  # noqa: E402
from gru_attn.files import os_reason, write_json, write_text  # noqa: E402
from gru_attn.notes import NoteList, hz_to_midi, read_notes, write_notes  # noqa: E402

SYSTEMS = ("gru_attn", "swift-f0", "basic-pitch", "basic-pitch-1voice")
SETS = ("devset", "crossgen", "corpus")
PEER_INSTALL = {
    "swift-f0": "pip install swift-f0==0.3.0",
    "basic-pitch": "pip install onnxruntime librosa 'resampy>=0.2.2,<0.4.3' 'setuptools<81' && "
    "pip install --no-deps basic-pitch==0.4.0",
}
DEFAULT_DEVSET = REPO.parent / "shared" / "devsets" / "resung"
PACKAGED_WEIGHTS = REPO / "gru_attn" / "weights"
METRICS = (("COnPOff", "COnPOff_f1"), ("COnP", "COnP_f1"), ("COn", "COn_f1"))


@dataclass
class Clip:
    """One labelled song: audio file, reference notes file, condition, and where its estimates go."""

    name: str
    cond: str
    wav: Path
    ref: Path
    part: str  # est folder below <out>/notes/<system>/: the set (and condition when refs are split by it)


@dataclass
class LabelledSet:
    name: str
    clips: list[Clip]
    rescore: dict  # part -> its reference notes folder


# --------------------------------------------------------------------------- sets


def folder_set(root: Path, name: str | None = None) -> LabelledSet:
    """A folder ``root/{wav,notes}`` (+ optional ``clips.csv`` with ``name,cond``) as a labelled set."""
    from gru_attn.audio import find_audio_files
    from gru_attn.corpus import find_notes_file

    name = name or root.name
    table_path = root / CONDITIONS_FILE
    table = read_conditions(table_path) if table_path.is_file() else None
    clips = []
    for wav in find_audio_files(root / "wav"):
        if table is not None and wav.stem not in table:
            raise InputError(f"{table_path}: no row for song {wav.stem!r}")
        clips.append(
            Clip(wav.stem, table[wav.stem] if table else "all", wav, find_notes_file(root / "notes", wav.stem), name)
        )
    if table is not None:  # the table's order: its conditions come in the order it lists them
        rank = {song: i for i, song in enumerate(table)}
        clips.sort(key=lambda c: rank[c.name])
    return LabelledSet(name, clips, {name: root / "notes"})


def crossgen_set(root: Path, songs: int) -> LabelledSet:
    """The cross-generator set in ``root`` (generated there unless cached), songs ``0..songs-1`` per condition."""
    from gru_attn.tools import crossgen

    crossgen.generate(root, songs=songs, progress=sys.stderr.isatty())
    clips, rescore = [], {}
    for cond in crossgen.CONDITIONS:
        wav_dir, notes_dir = crossgen.condition_dirs(root, cond, songs)
        part = f"crossgen/{cond}"
        rescore[part] = notes_dir
        for i in range(songs):
            name = crossgen.song_name(cond, i)
            clips.append(Clip(name, cond, wav_dir / f"{name}.wav", notes_dir / f"{name}.csv", part))
    return LabelledSet("crossgen", clips, rescore)


def corpus_root_from_checkpoint(ckpt: Path) -> Path:
    """The synthetic corpus folder a checkpoint trained on (generated if absent); InputError otherwise."""
    from gru_attn.checkpoint import load_checkpoint
    from gru_attn.synth import ensure_corpus

    spec = dict(((load_checkpoint(ckpt).get("config") or {}).get("data") or {}).get("corpus") or {})
    if spec.pop("_target_", None) != "gru_attn.corpus.load_synthetic_corpus":
        raise InputError(f"{ckpt}: its corpus is not the synthetic one; pass --corpus DIR")
    return ensure_corpus(**spec, progress=sys.stderr.isatty())


def corpus_set(root: Path) -> LabelledSet:
    """The test split of a corpus folder ``root/{wav,notes,splits.json}``; conditions from ``corpus.json``."""
    from gru_attn.corpus import find_notes_file

    split_file = root / "splits.json"
    try:
        names = json.loads(split_file.read_text())["test"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{split_file}: no readable test split") from None
    if not names:
        raise InputError(f"{split_file}: the test split is empty")
    drawn = {}
    if (root / "corpus.json").is_file():
        drawn = {s["name"]: s.get("conditions") or {} for s in json.loads((root / "corpus.json").read_text())["songs"]}
    clips = []
    for name in names:
        cond = "accompanied" if drawn.get(name, {}).get("accompaniment") else "voice"
        clips.append(
            Clip(name, cond, root / "wav" / f"{name}.wav", find_notes_file(root / "notes", name), "corpus-test")
        )
    return LabelledSet("corpus-test", clips, {"corpus-test": root / "notes"})


def labelled_sets(args, ckpt: Path | None) -> tuple[list[LabelledSet], list[str]]:
    """The sets the options select, and a note for every one skipped."""
    chosen = [s.strip() for s in args.sets.split(",") if s.strip() and s.strip() != "none"]
    unknown = [s for s in chosen if s not in SETS]
    if unknown:
        raise InputError(f"--sets {args.sets}: unknown set {unknown[0]!r} (expected some of {','.join(SETS)} or none)")
    sets, notes = [], []
    for name in chosen:
        if name == "devset":
            root = Path(args.devset)
            if not (root / "wav").is_dir():
                notes.append(f"devset skipped: {root} not found (--devset DIR)")
                continue
            sets.append(folder_set(root))
        elif name == "crossgen":
            try:
                sets.append(crossgen_set(Path(args.crossgen), args.crossgen_songs))
            except InputError as exc:
                if "fluidsynth" not in str(exc).lower() and "soundfont" not in str(exc).lower():
                    raise
                notes.append(f"crossgen skipped: {exc}")
        elif name == "corpus":
            if args.corpus:
                root = Path(args.corpus)
            elif ckpt is not None:
                root = corpus_root_from_checkpoint(ckpt)
            else:
                notes.append("corpus skipped: no checkpoint to name it (--ckpt or --corpus DIR)")
                continue
            sets.append(corpus_set(root))
    for folder in args.set or []:
        if not Path(folder).is_dir():
            raise InputError(f"--set {folder}: not a folder")
        sets.append(folder_set(Path(folder)))
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise InputError(f"--set: two sets named {sorted(n for n in names if names.count(n) > 1)[0]!r}")
    return sets, notes


# --------------------------------------------------------------------------- systems


class GruAttn:
    """The project's model: audio file -> notes as ``python -m gru_attn.transcribe`` makes them."""

    def __init__(self, ckpt: Path):
        from gru_attn.inference import load_model

        self.model, self.info = load_model(ckpt, "cpu")

    def __call__(self, wav: Path, shared: dict) -> NoteList:
        from gru_attn.audio import load_audio
        from gru_attn.inference import transcribe_audio

        return transcribe_audio(self.model, self.info, load_audio(wav), source=wav, device="cpu").notes


class SwiftF0Notes:
    """swift-f0's pitch tracker and its own ``segment_notes`` at default settings."""

    def __init__(self, threads: int | None):
        swift_f0 = import_peer("swift_f0", "swift-f0")
        self.detector, self.segment = swift_f0.SwiftF0(threads=threads), swift_f0.segment_notes

    def __call__(self, wav: Path, shared: dict) -> NoteList:
        notes = self.segment(self.detector.detect_file(wav))
        if not notes:
            return NoteList.empty()
        return NoteList.from_rows([(n.start, n.end, float(hz_to_midi(n.pitch_hz))) for n in notes])


class BasicPitchNotes:
    """Basic Pitch's ``predict`` on its ONNX model at default thresholds; ``one_voice``: the loudest
    of overlapping notes only. Both variants share one inference per song (``shared``)."""

    def __init__(self, threads: int | None, one_voice: bool = False):
        self.one_voice = one_voice
        bp = import_peer("basic_pitch.inference", "basic-pitch")
        import basic_pitch
        import onnxruntime

        path = Path(basic_pitch.__file__).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
        if not path.is_file():
            raise InputError(f"{path}: Basic Pitch's bundled ONNX model is missing")
        self.predict = bp.predict
        self.model = bp.Model(path)
        if threads is not None:  # the same session, with a fixed thread pool
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            self.model.model = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def events(self, wav: Path, shared: dict) -> list:
        """Basic Pitch's note events ``(start s, end s, midi, amplitude, bends)``, once per song."""
        if "basic_pitch" not in shared:
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # predict prints a line per file
                _, _, events = self.predict(wav, self.model)
            shared["basic_pitch"] = (events, time.perf_counter() - start)
        return shared["basic_pitch"][0]

    def __call__(self, wav: Path, shared: dict) -> NoteList:
        events = self.events(wav, shared)
        if self.one_voice:
            events = one_voice(events)
        if not events:
            return NoteList.empty()
        return NoteList.from_rows([(float(e[0]), float(e[1]), float(e[2])) for e in events])


def one_voice(events: list) -> list:
    """Events ``(start, end, pitch, amplitude, ...)`` with no two overlapping in time: loudest first,
    a note is kept unless it overlaps one already kept."""
    kept: list = []
    for event in sorted(events, key=lambda e: -float(e[3])):
        if all(float(event[1]) <= float(k[0]) or float(event[0]) >= float(k[1]) for k in kept):
            kept.append(event)
    return sorted(kept, key=lambda e: float(e[0]))


def import_peer(module: str, package: str):
    """Import a peer's module; InputError naming the pip command when it is not installed."""
    import importlib
    import logging
    import warnings

    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # basic_pitch warns at import about every absent backend
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(
            f"--systems {package}: not installed ({exc}); install it with: {PEER_INSTALL[package.split('-1voice')[0]]}"
        ) from None
    finally:
        logging.getLogger().setLevel(previous)


def default_checkpoint() -> Path | None:
    """The packaged model: the one ``gru_attn/weights/*.pt`` file, or None."""
    found = sorted(PACKAGED_WEIGHTS.glob("*.pt")) if PACKAGED_WEIGHTS.is_dir() else []
    return found[0] if len(found) == 1 else None


def make_systems(names: list[str], ckpt: Path | None, threads: int | None) -> dict:
    systems = {}
    for name in names:
        if name == "gru_attn":
            systems[name] = GruAttn(ckpt)
        elif name == "swift-f0":
            systems[name] = SwiftF0Notes(threads)
        else:
            systems[name] = BasicPitchNotes(threads, one_voice=name == "basic-pitch-1voice")
    return systems


# --------------------------------------------------------------------------- run


def run(systems: dict, sets: list[LabelledSet], out: Path, progress: bool = False) -> dict:
    """Transcribe every clip with every system, write the notes, score them per set and condition.

    Returns ``{"rows": [{set, condition, songs, system, COnPOff_f1, ..., rtf, seconds, audio_s}],
    "per_song": {system: {set: {song: metrics + est_notes, seconds}}}}``.
    """
    from tqdm import tqdm

    first = sets[0].clips[0].wav
    for system in systems.values():  # warm-up: JIT compilers, thread pools, first-call allocations
        system(first, {})
    rows, per_song = [], {name: {} for name in systems}
    for labelled in sets:
        refs = {c.name: read_notes(c.ref) for c in labelled.clips}
        audio_s = {c.name: sf.info(str(c.wav)).duration for c in labelled.clips}
        ests = {name: {} for name in systems}
        seconds = {name: {} for name in systems}
        for clip in tqdm(labelled.clips, desc=labelled.name, unit="song", disable=not progress):
            shared: dict = {}
            for name, system in systems.items():
                start = time.perf_counter()
                notes = system(clip.wav, shared)
                elapsed = time.perf_counter() - start
                if name == "basic-pitch-1voice" and "basic-pitch" in systems:  # inference timed once, for both
                    elapsed += shared["basic_pitch"][1]
                ests[name][clip.name], seconds[name][clip.name] = notes, elapsed
                write_notes(notes, out / "notes" / name / clip.part / f"{clip.name}.csv", overlaps=True)
        conditions = {c.name: c.cond for c in labelled.clips}
        for name in systems:
            note_rows, _ = evaluate_notes(refs, ests[name])
            by_cond = condition_means(note_rows, conditions, source=labelled.name)
            per_song[name][labelled.name] = {
                song: {
                    "condition": conditions[song],
                    "ref_notes": len(refs[song]),
                    "est_notes": len(ests[name][song]),
                    "seconds": seconds[name][song],
                    "audio_s": audio_s[song],
                    **m,
                }
                for song, m in note_rows.items()
            }
            for cond, m in by_cond.items():
                songs = [c.name for c in labelled.clips if cond == "all" or c.cond == cond]
                spent, dur = sum(seconds[name][s] for s in songs), sum(audio_s[s] for s in songs)
                rows.append(
                    {
                        "set": labelled.name,
                        "condition": cond,
                        "songs": m["songs"],
                        "system": name,
                        **{key: m[key] for _, key in METRICS},
                        "COnP_precision": m["COnP_precision"],
                        "COnP_recall": m["COnP_recall"],
                        "rtf": spent / dur,
                        "seconds": spent,
                        "audio_s": dur,
                    }
                )
    order = {(r["set"], r["condition"]): i for i, r in enumerate(rows)}  # first seen: table order, all last
    rank = {name: i for i, name in enumerate(systems)}
    rows.sort(key=lambda r: (order[(r["set"], r["condition"])], rank[r["system"]]))
    return {"rows": rows, "per_song": per_song}


def rescore_commands(systems, sets: list[LabelledSet], out: Path) -> list[str]:
    """``python -m gru_attn.evaluate --est-dir ...`` for every system and set part; writes each part's
    songs and conditions to ``<out>/sets/<part>.csv`` (``name,cond``) for its ``--conditions``."""
    lines = []
    for labelled in sets:
        for part, notes_dir in labelled.rescore.items():
            table = out / "sets" / f"{part.replace('/', '-')}.csv"
            write_text(table, "name,cond\n" + "".join(f"{c.name},{c.cond}\n" for c in labelled.clips if c.part == part))
            for name in systems:
                cmd = [
                    "python",
                    "-m",
                    "gru_attn.evaluate",
                    "--est-dir",
                    str(out / "notes" / name / part),
                    "--notes-dir",
                    str(notes_dir),
                    "--conditions",
                    str(table),
                    "--out",
                    str(out / "rescore" / name / part),
                ]
                lines.append(" ".join(shlex.quote(c) for c in cmd))
    return lines


# --------------------------------------------------------------------------- reports


def format_table(rows: list[dict], markdown: bool = False) -> str:
    """One row per set, condition and system: COnPOff / COnP / COn F1 and RTF; in markdown the best
    F1 of each set and condition is bold."""
    head = ("set", "condition", "songs", "system", "COnPOff", "COnP", "COn", "RTF")
    best = {}
    for r in rows:
        for _, key in METRICS:
            k = (r["set"], r["condition"], key)
            best[k] = max(best.get(k, -1.0), r[key])

    def cells(r):
        values = []
        for _, key in METRICS:
            text = f"{r[key]:.3f}"
            values.append(f"**{text}**" if markdown and r[key] == best[(r["set"], r["condition"], key)] else text)
        return [r["set"], r["condition"], str(r["songs"]), r["system"], *values, f"{r['rtf']:.3f}"]

    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    widths = (12, 13, 5, 18, 8, 8, 8, 7)
    lines = [" ".join(f"{h:<{w}}" if i < 4 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(head, widths)))]
    lines.append("-" * len(lines[0]))
    previous = None
    for r in rows:
        if previous is not None and (r["set"], r["condition"]) != previous:
            lines.append("")
        previous = (r["set"], r["condition"])
        lines.append(
            " ".join(f"{c[:w]:<{w}}" if i < 4 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells(r), widths)))
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="gru_attn checkpoint (default: the packaged model in gru_attn/weights/)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated subset of {','.join(SETS)}, or none")
    parser.add_argument(
        "--set",
        action="append",
        metavar="DIR",
        help="also a folder with wav/, notes/ (and clips.csv: name,cond); repeatable",
    )
    parser.add_argument("--devset", default=str(DEFAULT_DEVSET), help=f"dev set folder (default: {DEFAULT_DEVSET})")
    parser.add_argument(
        "--crossgen",
        default=str(REPO / "generated" / "crossgen"),
        help="cross-generator set folder (generated there if needed; default: generated/crossgen)",
    )
    parser.add_argument(
        "--crossgen-songs", type=int, default=8, help="cross-generator songs per condition (default: 8)"
    )
    parser.add_argument("--corpus", help="corpus folder with wav/, notes/, splits.json (default: the checkpoint's)")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads for torch and ONNX Runtime (default: each library's own)"
    )
    parser.add_argument(
        "--out", default=str(REPO / "outputs" / "bench_peers"), help="output folder (default: outputs/bench_peers)"
    )
    parser.add_argument("--markdown", help="also write the table as markdown to this file")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULTS_JSON",
        help="run nothing: one table of the rows of these earlier results.json files",
    )
    return parser.parse_args(argv)


def merge(paths: list[str]) -> tuple[list[dict], list[str]]:
    """The rows of earlier ``results.json`` files in one table order (set, condition, system), and
    a header line per file; InputError for a missing file or a row given twice."""
    rows, headers = [], []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
            new = list(data["rows"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a bench_peers results.json ({exc})") from None
        headers.append(f"{path}: gru_attn {data.get('checkpoint') or '-'}, threads {data.get('threads') or 'default'}")
        rows += new
    keys = [(r["set"], r["condition"], r["system"]) for r in rows]
    twice = [k for k in dict.fromkeys(keys) if keys.count(k) > 1]
    if twice:
        raise InputError(f"--merge: the row {' / '.join(twice[0])} comes in more than one file")
    group = {}
    for r in rows:
        group.setdefault(r["set"], {}).setdefault(r["condition"], len(group.get(r["set"], {})))
    sets = list(group)
    for conds in group.values():  # "all" last in every set
        if "all" in conds:
            conds["all"] = len(conds)
    rank = {name: i for i, name in enumerate(SYSTEMS)}
    rows.sort(key=lambda r: (sets.index(r["set"]), group[r["set"]][r["condition"]], rank.get(r["system"], 99)))
    return rows, headers


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.merge:
        try:
            rows, headers = merge(args.merge)
            header = "merged: " + "; ".join(headers)
            if args.markdown:
                write_text(args.markdown, header + "\n\n" + format_table(rows, markdown=True))
        except InputError as exc:
            print_error(exc)
            return 2
        except OSError as exc:
            print_error(f"{exc.filename or args.markdown}: {os_reason(exc)}")
            return 2
        print(header)
        print(format_table(rows), end="")
        return 0
    try:
        names = [s.strip() for s in args.systems.split(",") if s.strip()]
        unknown = [s for s in names if s not in SYSTEMS]
        if unknown or not names:
            raise InputError(f"--systems {args.systems}: expected some of {','.join(SYSTEMS)}")
        names = [s for s in SYSTEMS if s in names]
        if args.threads is not None and args.threads < 1:
            raise InputError(f"--threads {args.threads}: expected a positive number")
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        ckpt = Path(args.ckpt) if args.ckpt else default_checkpoint()
        if "gru_attn" in names and ckpt is None:
            raise InputError(f"--ckpt: required (no packaged model in {PACKAGED_WEIGHTS})")
        systems = make_systems(names, ckpt, args.threads)
        sets, skipped = labelled_sets(args, ckpt)
        for note in skipped:
            print(note, file=sys.stderr)
        if not sets:
            raise InputError("no labelled set to run on (--sets, --set)")
        results = run(systems, sets, out, progress=sys.stderr.isatty())
        table_md = format_table(results["rows"], markdown=True)
        header = (
            f"gru_attn: {ckpt if 'gru_attn' in names else '-'}; sets: "
            + ", ".join(f"{s.name} ({len(s.clips)} songs)" for s in sets)
            + f"; threads: {args.threads or 'default'}; F1 = macro mean over songs; "
            "RTF = file-to-notes seconds per audio second"
        )
        write_json(
            out / "results.json",
            {"checkpoint": str(ckpt) if ckpt else None, "threads": args.threads, "skipped": skipped, **results},
        )
        write_text(out / "table.md", header + "\n\n" + table_md)
        write_text(out / "rescore.sh", "\n".join(rescore_commands(systems, sets, out)) + "\n")
        if args.markdown:
            write_text(args.markdown, header + "\n\n" + table_md)
    except InputError as exc:
        print_error(exc)
        return 2
    except OSError as exc:
        print_error(f"{exc.filename or out}: {os_reason(exc)}")
        return 2
    print(header)
    print(format_table(results["rows"]), end="")
    print(
        f"wrote {out / 'results.json'}, {out / 'table.md'}, notes under {out / 'notes'} "
        f"(rescore: {out / 'rescore.sh'})" + (f", {args.markdown}" if args.markdown else "")
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
