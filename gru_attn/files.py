"""Atomic file writing: every file the project writes goes through :func:`atomic_path`.

A temporary sibling file (same folder, same suffix, so writers that pick a format
from the suffix still work) is written first and renamed onto the target only when
the writer finished; a killed or failing writer never leaves a truncated file, and
the target keeps its previous content. Temporary names carry the process id and a
random token, so concurrent writers (sweep jobs) never share one. The file gets the
usual umask-based permissions.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (parents are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def to_json_value(x):
    """``x`` with numpy scalars as Python numbers and non-finite floats as None (valid JSON)."""
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: to_json_value(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json_value(v) for v in x]
    return x


def write_json(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON atomically (see :func:`to_json_value`)."""
    return write_text(path, json.dumps(to_json_value(data), indent=2) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` ``array`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)
    return Path(path)
