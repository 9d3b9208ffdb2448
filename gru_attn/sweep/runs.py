"""Reading run directories (plain Python): what the sweeper and ``gru_attn.compare`` look at.

A run directory holds ``metrics.json`` (written by :func:`gru_attn.engine.fit` after
every epoch, or by ``gru_attn.train`` when a run fails before training) and Hydra's
``.hydra/config.yaml`` (the composed task config) and ``.hydra/overrides.yaml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STUDY_FILE = "study.json"  # in a sweep dir: {"storage", "study_name", "direction"} of its Optuna study
NOT_STARTED = "not started"  # a run folder without metrics.json
UNREADABLE = "unreadable"  # metrics.json or config that cannot be parsed


def read_metrics(run_dir: str | Path) -> dict | None:
    """The run's ``metrics.json`` ({"summary": ..., "history": [...]}), or None when absent.

    A file that cannot be parsed yields a summary with status ``unreadable`` and the reason.
    """
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("summary", {}), dict):
            raise ValueError("expected a JSON object with a 'summary' object")
    except (OSError, ValueError) as exc:
        return {"summary": {"status": UNREADABLE, "reason": f"{path}: {exc}"}, "history": []}
    return {"summary": data.get("summary") or {}, "history": list(data.get("history") or [])}


def run_status(run_dir: str | Path) -> str | None:
    """``summary.status`` of the run's metrics.json (running, completed, failed, pruned, ...), or None."""
    metrics = read_metrics(run_dir)
    return None if metrics is None else metrics["summary"].get("status")


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text()) if path.exists() else None
    except (OSError, yaml.YAMLError):
        return None


@dataclass
class Run:
    """One run directory as found on disk."""

    path: Path
    status: str
    summary: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    config: dict = field(default_factory=dict)  # .hydra/config.yaml (unresolved interpolations stay strings)
    overrides: list = field(default_factory=list)  # .hydra/overrides.yaml

    @property
    def name(self) -> str:
        return self.path.name


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` looks like a run directory (Hydra's ``.hydra/`` or a ``metrics.json``)."""
    return path.is_dir() and ((path / ".hydra").is_dir() or (path / "metrics.json").exists())


def read_run(run_dir: str | Path) -> Run:
    """Everything known about one run directory; never raises for a broken or unfinished run."""
    path = Path(run_dir)
    metrics = read_metrics(path)
    config = _read_yaml(path / ".hydra" / "config.yaml")
    overrides = _read_yaml(path / ".hydra" / "overrides.yaml")
    if metrics is None:
        status, summary, history = NOT_STARTED, {}, []
    else:
        summary, history = metrics["summary"], metrics["history"]
        status = str(summary.get("status") or UNREADABLE)
    return Run(
        path=path,
        status=status,
        summary=summary,
        history=history,
        config=config if isinstance(config, dict) else {},
        overrides=[str(o) for o in overrides] if isinstance(overrides, list) else [],
    )


def find_runs(sweep_dir: str | Path) -> list[Run]:
    """The run directories directly inside ``sweep_dir``, in natural order (2 before 10)."""
    sweep_dir = Path(sweep_dir)
    dirs = [p for p in sweep_dir.iterdir() if is_run_dir(p)]
    dirs.sort(key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))
    return [read_run(p) for p in dirs]
