"""Figures: training curves of one run and the piano roll of one transcription; the shared
:func:`new_figure` and atomic :func:`save_figure` (sweep plots live in :mod:`gru_attn.sweep.figures`).

Figures are matplotlib's object-oriented :class:`~matplotlib.figure.Figure`, drawn without
pyplot: no global backend is chosen and no window can open, wherever this is imported.
Every figure is written atomically (temp file + rename). matplotlib is imported when the first
figure is made, not with this module (a command that draws nothing does not pay for it).
"""

from __future__ import annotations

import os
from pathlib import Path

from gru_attn.files import atomic_path


def new_figure(figsize: tuple[float, float]):
    """An empty :class:`matplotlib.figure.Figure` of ``figsize`` inches, outside pyplot (save it with :func:`save_figure`)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save ``fig`` to ``path`` atomically; a figure pyplot made (Optuna's plots) is closed there."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        if getattr(fig.canvas, "manager", None) is not None:  # registered with pyplot
            import matplotlib.pyplot as plt

            plt.close(fig)
    return Path(path)


def plot_training_curves(history: list[dict], path: str | os.PathLike) -> Path:
    """Loss, per-pair frame accuracy and note-level F1 against epoch, one panel each."""
    epochs = [h["epoch"] for h in history]
    panels = [
        ("loss", [("train/loss", "train"), ("val/loss", "val")]),
        (
            "frame accuracy (val)",
            [
                ("val/voiced_acc", "voiced"),
                ("val/onset_acc", "onset"),
                ("val/offset_acc", "offset"),
                ("val/onset_f1", "onset F1"),
                ("val/offset_f1", "offset F1"),
            ],
        ),
        ("note F1 (val)", [("val/COnPOff_f1", "COnPOff"), ("val/COnP_f1", "COnP"), ("val/COn_f1", "COn")]),
    ]
    fig = new_figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    for ax, (title, series) in zip(axes, panels):
        for key, label in series:
            values = [h.get(key) for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [float("nan") if v is None else v for v in values], marker="o", ms=3, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_transcription(
    path: str | os.PathLike, notes, pitch_hz, probs, thresholds=None, title: str | None = None
) -> Path:
    """Piano roll of ``notes`` over the pitch contour, with the frame probabilities beneath.

    ``notes``: a :class:`gru_attn.notes.NoteList`; ``pitch_hz``: (T,) f0 in Hz on the frame
    grid (0 = unvoiced); ``probs``: (T, 3) voiced/onset/offset probabilities;
    ``thresholds``: optional (voiced, onset, offset) decoding thresholds, drawn as dotted lines.
    """
    import numpy as np
    from matplotlib.patches import Rectangle

    from gru_attn.frames import frame_times
    from gru_attn.labels import PAIR_NAMES
    from gru_attn.notes import hz_to_midi

    t = frame_times(len(pitch_hz))
    contour = hz_to_midi(pitch_hz)
    fig = new_figure(figsize=(max(8.0, min(40.0, len(t) / 150)), 6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    for onset, offset, midi in zip(notes.onsets, notes.offsets, notes.midi):
        top.add_patch(Rectangle((onset, midi - 0.4), offset - onset, 0.8, color="tab:orange", alpha=0.6, lw=0))
    top.plot(t, contour, color="tab:blue", lw=0.8, label="pitch contour")
    top.plot([], [], color="tab:orange", lw=6, alpha=0.6, label=f"notes ({len(notes)})")
    values = np.concatenate([contour[~np.isnan(contour)], notes.midi])
    if values.size:
        top.set_ylim(np.floor(values.min()) - 2, np.ceil(values.max()) + 2)
    top.set_ylabel("MIDI")
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="upper right")
    if title:
        top.set_title(title)
    colours = ("tab:green", "tab:red", "tab:purple")
    for j, (name, colour) in enumerate(zip(PAIR_NAMES, colours)):
        bottom.plot(t, probs[:, j], color=colour, lw=0.8, label=name)
        if thresholds is not None:
            bottom.axhline(thresholds[j], color=colour, lw=0.6, ls=":")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("probability")
    bottom.set_xlabel("time (s)")
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize=8, loc="upper right", ncol=3)
    return save_figure(fig, path)
