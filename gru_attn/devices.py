"""Torch devices: selection (``auto|cpu|cuda|cuda:N``) and CPU workers.

Shared by training, feature extraction and inference.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
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


SONG_BALANCE = 1.25  # songs run side by side when the largest is at most this many times a thread's fair share


def parallel_songs(sizes: list[int], device) -> int:
    """How many songs to transcribe at once (1: one at a time, on all cores), given their file sizes.

    On CPU with several torch threads and several songs, one single-threaded song per thread
    keeps every core busy on its own, where one song on all cores leaves cores waiting at each
    step of its feature batches and model segments (the dev set's 24 songs: 0.80x the wall
    time). A song alone on one core is slower, though, so that pays only when every thread
    gets a song (fewer songs than threads would leave cores idle that one song at a time
    uses) and the songs share out evenly: the largest at most :data:`SONG_BALANCE` times the
    total divided by the threads. CUDA: one at a time.
    """
    threads = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    if threads <= 1 or len(sizes) < threads or max(sizes) * threads > SONG_BALANCE * sum(sizes):
        return 1
    return threads


def transcribed_in_turn(run, jobs: list, sizes: list[int], workers: int) -> Iterator:
    """``run(job)`` of every job, yielded in the jobs' order; with ``workers`` > 1 on single-threaded
    workers (:func:`gru_attn.devices.single_thread_workers`), the largest songs started first."""
    if workers <= 1:
        yield from map(run, jobs)
        return
    with single_thread_workers(workers) as pool:
        order = sorted(range(len(jobs)), key=lambda i: -sizes[i])
        futures = dict(zip(order, (pool.submit(run, jobs[i]) for i in order)))
        try:
            for i in range(len(jobs)):
                yield futures[i].result()
        finally:  # stopped early (an interrupt, an unexpected error): songs not yet started are dropped
            for future in futures.values():
                future.cancel()
