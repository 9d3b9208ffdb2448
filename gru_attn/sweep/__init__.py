"""Hooks between a training run and the sweep around it (device per job, pruning)."""

from __future__ import annotations


def job_device(spec: str) -> str:
    """The device this job trains on, given ``trainer.device``."""
    return spec


def epoch_callback(cfg):
    """A per-epoch callback ``(epoch, metrics) -> None`` for the surrounding sweep, or None."""
    return None
