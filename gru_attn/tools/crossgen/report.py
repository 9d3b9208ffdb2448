"""Scoring a checkpoint on the cross-generator set, beside the Praat + ``pitch_to_notes`` baseline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from gru_attn.errors import InputError
from gru_attn.notes import NoteList
from gru_attn.pitch import tracker_names
from gru_attn.tools.crossgen.song import CONDITIONS, song_name


def baseline_notes(audio: np.ndarray) -> NoteList:
    """The naive segmenter: Praat's contour -> notes by :func:`gru_attn.labels.pitch_to_notes`."""
    from gru_attn.labels import pitch_to_notes
    from gru_attn.pitch import track_pitch

    return pitch_to_notes(track_pitch(audio, "praat"))


def condition_dirs(out: Path, condition: str, songs: int) -> tuple[Path, Path]:
    """(wav dir, notes dir) of ``condition``; InputError unless it holds ``songs`` songs."""
    wav_dir, notes_dir = out / condition / "wav", out / condition / "notes"
    have = len(list(wav_dir.glob("*.wav"))) if wav_dir.is_dir() else 0
    if have < songs:
        raise InputError(f"{wav_dir}: {have} songs, expected {songs}; generate the set first")
    return wav_dir, notes_dir


def evaluate_set(
    ckpt: str,
    out: Path,
    *,
    songs: int,
    conditions=CONDITIONS,
    pitch_method: str | None = None,
    device: str = "auto",
    progress: bool = False,
) -> dict:
    """Score a checkpoint and the baseline on songs ``0..songs-1`` of every condition.

    Returns ``{"checkpoint", "pitch_method", "songs", "rows": {system: {condition|"all":
    {metric: mean}}}, "per_song": {system: {song: metrics}}}`` with systems ``model`` and
    ``baseline``; ``all`` is the macro mean over every song of every condition.
    """
    from gru_attn.audio import load_audio
    from gru_attn.devices import resolve_device
    from gru_attn.evaluate import evaluate, evaluate_notes
    from gru_attn.inference import load_model
    from gru_attn.metrics import aggregate_note_metrics
    from gru_attn.notes import read_notes

    if pitch_method is not None and pitch_method not in tracker_names():
        raise InputError(f"--pitch-method {pitch_method}: expected one of {', '.join(tracker_names())}")
    device = resolve_device(device, option="--device")
    model, info = load_model(ckpt, device)
    if pitch_method is not None:
        info = dataclasses.replace(info, pitch_method=pitch_method)
    rows = {"model": {}, "baseline": {}}
    per_song = {"model": {}, "baseline": {}}
    for condition in conditions:
        wav_dir, notes_dir = condition_dirs(out, condition, songs)
        names = [song_name(condition, i) for i in range(songs)]
        items = []
        for name in names:
            path = wav_dir / f"{name}.wav"
            items.append((path, load_audio(path), read_notes(notes_dir / f"{name}.csv")))
        result = evaluate(model, info, iter(items), device=device, progress=progress)
        per_song["model"].update(result["per_song"])
        base_rows, _ = evaluate_notes(
            {p.stem: ref for p, _, ref in items}, {p.stem: baseline_notes(a) for p, a, _ in items}
        )
        per_song["baseline"].update(base_rows)
        rows["model"][condition] = result["mean"]
        rows["baseline"][condition] = aggregate_note_metrics(list(base_rows.values()))
    for system in rows:
        rows[system]["all"] = aggregate_note_metrics(list(per_song[system].values()))
    return {
        "checkpoint": str(info.path),
        "epoch": info.epoch,
        "pitch_method": info.pitch_method,
        "songs": songs,
        "rows": rows,
        "per_song": per_song,
    }


def format_markdown(results: dict) -> str:
    """A markdown table: one row per system and condition (then ``all``), F1 of COnPOff / COnP / COn."""
    lines = [
        f"checkpoint `{results['checkpoint']}` (pitch: {results['pitch_method']}), "
        f"{results['songs']} songs per condition",
        "",
        "| system | condition | COnPOff | COnP | COn |",
        "|---|---|---|---|---|",
    ]
    labels = {"model": "model", "baseline": "praat + pitch_to_notes"}
    for system, by_condition in results["rows"].items():
        for condition, m in by_condition.items():
            lines.append(
                f"| {labels[system]} | {condition} | {m['COnPOff_f1']:.3f} | {m['COnP_f1']:.3f} | {m['COn_f1']:.3f} |"
            )
    return "\n".join(lines) + "\n"
