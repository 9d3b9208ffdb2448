"""Atomic file writing: every file the project writes goes through :func:`atomic_path`.

A temporary sibling file (same folder, same suffix, so writers that pick a format
from the suffix still work) is written first and renamed onto the target only when
the writer finished; a killed or failing writer never leaves a truncated file, and
the target keeps its previous content. Temporary names carry the process id, the host
and a random token (``.<stem>.<pid>@<host>.<token>.tmp<suffix>``), so concurrent writers
(sweep jobs) never share one; a writer killed with ``kill -9`` leaves its temporary behind,
and the next write of the same target removes it (:func:`remove_stale_temps`: its process
is gone from this host, or it is a day old). The file gets the usual umask-based permissions.

:func:`os_reason` and :func:`check_readable` turn an ``OSError`` into the few words of an
``error:`` line ("permission denied", "a symlink loop", ...).
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gru_attn.errors import InputError

_HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64] or "host"
# .<stem>.<pid>[@<host>].<8 hex>.tmp<suffix>; names without a host are from before hosts were recorded
_TEMP_NAME = re.compile(
    r"^\.(?P<stem>.*)\.(?P<pid>\d+)(?:@(?P<host>[A-Za-z0-9_-]+))?\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]*)?$"
)
STALE_TEMP_SECONDS = 24 * 3600  # a temporary of another host counts as stale after this long


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # exists, owned by someone else (or not a pid at all)
    return True


def is_stale_temp(path: Path) -> bool:
    """Whether ``path`` is a temporary of :func:`atomic_path` whose writer is gone.

    On this host: its process no longer runs. From another host (a shared file system):
    it is older than ``STALE_TEMP_SECONDS``.
    """
    found = _TEMP_NAME.match(path.name)
    if not found:
        return False
    if found["host"] in (None, _HOST):
        return not _pid_alive(int(found["pid"]))
    try:
        return time.time() - path.stat().st_mtime > STALE_TEMP_SECONDS
    except OSError:
        return False


def remove_stale_temps(folder: str | os.PathLike, target: str | os.PathLike | None = None) -> list[Path]:
    """Delete the stale temporaries (:func:`is_stale_temp`) in ``folder`` (of ``target`` only,
    when given: a path or a file name); returns what was deleted. Never raises."""
    folder = Path(folder)
    pattern = ".*.tmp*"
    if target is not None:
        name = Path(target)
        pattern = f".{_glob_escape(name.stem)}.*.tmp{_glob_escape(name.suffix)}"
    removed = []
    try:
        for p in folder.glob(pattern):
            if is_stale_temp(p):
                p.unlink(missing_ok=True)
                removed.append(p)
    except OSError:
        pass
    return removed


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?[])", r"[\1]", text)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (parents are created).

    Stale temporaries of the same target left by a killed writer are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}@{_HOST}.{secrets.token_hex(4)}.tmp{path.suffix}")
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
    """Write ``text`` (UTF-8) to ``path`` atomically. File names that are not UTF-8 (their bytes
    decoded with ``surrogateescape``, as Python does) are written back as those bytes."""
    return write_bytes(path, text.encode("utf-8", errors="surrogateescape"))


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


# errno -> the words of an error line
_OS_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "a symlink loop (the link points back at itself)",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder, expected a file",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ENAMETOOLONG: "file name too long",
    errno.EEXIST: "exists",
}


def os_reason(exc: OSError) -> str:
    """The reason of ``exc`` in a few words ("permission denied", "no space left on the device", ...)."""
    return _OS_REASONS.get(exc.errno) or (exc.strerror or str(exc) or type(exc).__name__).lower()


def check_readable(path: str | os.PathLike, what: str = "a file") -> Path:
    """``path`` when it is a readable regular file; else InputError naming it with the reason:
    no such file, a symlink loop, a folder, permission denied."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise InputError(f"{path}: a broken symlink (its target does not exist)") from None
        raise InputError(f"{path}: {os_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: a folder, not a file (expected {what})")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (expected {what})")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    return path


def check_out_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as an output folder (created with its parents); InputError naming ``option`` when it is a
    file, or cannot be created or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file, expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "a folder above it is a file" if exc.errno in (errno.ENOTDIR, errno.EEXIST) else os_reason(exc)
        raise InputError(f"{option} {path}: cannot create the output folder ({reason})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: permission denied (cannot write into it)")
    return path
