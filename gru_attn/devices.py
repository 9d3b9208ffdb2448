"""Torch devices: selection (``auto|cpu|cuda|cuda:N``) and CPU workers.

Shared by training, feature extraction and inference.
"""

from __future__ import annotations

import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from gru_attn.errors import InputError


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (Linux: the ``avx512_bf16`` or
    ``amx_bf16`` flag in ``cpuinfo``); False where that cannot be read."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The mixed-precision dtype for training on ``device`` with ``amp`` on: float16 on CUDA,
    bfloat16 on a CPU with native bf16 (:func:`cpu_has_native_bf16`; elsewhere bf16 is
    emulated and slower than float32); None = float32."""
    if not amp:
        return None
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


def resolve_device(spec: str | torch.device | None = "auto", option: str = "device") -> torch.device:
    """``auto`` (or None) -> ``cuda`` when available else ``cpu``; ``cpu``, ``cuda``, ``cuda:N`` as given.

    ``option`` names the setting in error messages (``trainer.device``, ``--device``).

    Raises:
        InputError: an unknown device, CUDA asked for on a machine without it, or a
            CUDA index beyond the visible devices.
    """
    if spec is None or str(spec) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = f"{option}={spec!s}: expected auto, cpu, cuda or cuda:N"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise InputError(expected) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{option}={spec!s}: CUDA is not available on this machine (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"{option}={spec!s}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif device.type != "cpu":
        raise InputError(expected)
    return device


@contextlib.contextmanager
def single_thread_workers(workers: int):
    """A thread pool whose workers run torch single-threaded: one piece of work per core.

    On CPU, independent pieces of work (CFP frame batches, inference segments) run faster this way than
    one piece at a time with torch's intra-op threads, which wait on each other at every
    small operation (and far more so when other processes load the CPU). Setting one
    thread in a worker also changes the default for threads started later, so the
    caller's setting is restored afterwards.
    """
    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,))
    try:
        yield pool
    finally:
        pool.shutdown()
        torch.set_num_threads(threads)
