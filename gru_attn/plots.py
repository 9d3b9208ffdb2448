"""Figures: training curves of one run (sweep plots live in :mod:`gru_attn.compare`).

Every figure is written atomically (temp file + rename) with the Agg backend.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save ``fig`` to ``path`` atomically and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path


def plot_training_curves(history: list[dict], path: str | os.PathLike) -> Path:
    """Loss, per-pair frame accuracy and note-level F1 against epoch, one panel each."""
    epochs = [h["epoch"] for h in history]
    panels = [
        ("loss", [("train/loss", "train"), ("val/loss", "val")]),
        ("frame accuracy (val)", [("val/voiced_acc", "voiced"), ("val/onset_acc", "onset"),
                                  ("val/offset_acc", "offset"), ("val/onset_f1", "onset F1"),
                                  ("val/offset_f1", "offset F1")]),
        ("note F1 (val)", [("val/COnPOff_f1", "COnPOff"), ("val/COnP_f1", "COnP"), ("val/COn_f1", "COn")]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
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
