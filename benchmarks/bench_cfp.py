"""Benchmark the CFP extractor: speed per minute of audio, real-time factor, peak memory.

    python benchmarks/bench_cfp.py [--sizes 10 60 300] [--repeats 3] [--threads 2]
                                   [--chunk-frames N] [--device cpu]

Each size runs in a fresh subprocess on a synthetic signal (a harmonic tone with
vibrato plus noise, float32 at 16 kHz). Time is the median wall time of ``repeats``
calls of ``cfp.cfp_features`` after one warm-up call on 1 s of audio. Memory is the
process peak RSS (``resource.getrusage().ru_maxrss``) minus the peak just before the
first timed call (after imports, warm-up and building the input signal), i.e. what the
extraction itself adds. Prints figures only, never asserts; other processes loading
the CPU slow it down, so the load average is printed too, and the process CPU time
(all threads), which contention inflates much less than wall time.

Reference (VOCANO's own numpy extractor): about 8.5 s per 60 s of audio on 2 cores,
peak 1.26 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "fixtures" / "vocano_cfp"
VOCANO_SECONDS_PER_MINUTE = 8.5
VOCANO_PEAK_MB = 1260.0


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _signal(seconds: float):
    """(N,) float32 harmonic tone with vibrato plus noise, built 10 s at a time (keeps the RSS peak low)."""
    import numpy as np

    rate, n = 16000, int(seconds * 16000)
    out = np.empty(n, dtype=np.float32)
    rng = np.random.default_rng(0)
    phase = 0.0
    for start in range(0, n, 10 * rate):
        t = np.arange(start, min(start + 10 * rate, n)) / rate
        f0 = 220.0 * 2 ** ((3 * np.sin(2 * np.pi * 0.25 * t) + 0.3 * np.sin(2 * np.pi * 5.5 * t)) / 12)
        ph = phase + 2 * np.pi * np.cumsum(f0) / rate
        phase = ph[-1]
        x = sum(0.3 / k * np.sin(k * ph) for k in range(1, 8)) + 0.01 * rng.standard_normal(t.size)
        out[start:start + t.size] = x
    return out


def child(seconds: float, repeats: int, threads: int, chunk_frames: int | None, device: str) -> dict:
    """Time and measure ``cfp_features`` on ``seconds`` of audio in this process."""
    import torch

    from gru_attn import cfp

    torch.set_num_threads(threads)
    cfp.cfp_features(_signal(1.0), device=device, chunk_frames=chunk_frames)  # warm-up: plans, filterbanks
    audio = _signal(seconds)
    base = _peak_rss_mb()
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        cfp.cfp_features(audio, device=device, chunk_frames=chunk_frames)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device != "cpu" else None
    return {"seconds": seconds, "time": statistics.median(times), "times": times,
            "cpu": statistics.median(cpu_times),
            "peak_mb": _peak_rss_mb(), "base_mb": base, "gpu_peak_mb": gpu_mb}


def parity(device: str) -> float | None:
    """max |ours - VOCANO| on the fixture probe, or None when the fixture is absent."""
    if not FIXTURE.is_dir():
        return None
    import numpy as np

    from gru_attn.audio import load_audio
    from gru_attn.cfp import cfp_features

    ours = cfp_features(load_audio(FIXTURE / "probe.wav"), device=device)
    return float(np.abs(ours - np.load(FIXTURE / "probe_feat.npy")).max())


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    from gru_attn.cfp import CHUNK_FRAMES, CUDA_CHUNK_FRAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[10.0, 60.0, 300.0], help="audio lengths (s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (at most 2)")
    parser.add_argument("--chunk-frames", type=int, default=None,
                        help=f"frames per chunk (default: {CHUNK_FRAMES} on cpu, {CUDA_CHUNK_FRAMES} on cuda)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    threads = max(1, min(args.threads, 2))

    if args.child is not None:
        print(json.dumps(child(args.child, args.repeats, threads, args.chunk_frames, args.device)))
        return 0

    chunk = args.chunk_frames or (CHUNK_FRAMES if args.device == "cpu" else CUDA_CHUNK_FRAMES)
    print(f"CFP benchmark: device {args.device}, {threads} torch thread(s), chunk {chunk} frames, "
          f"median of {args.repeats}; load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"reference: VOCANO's extractor ~{VOCANO_SECONDS_PER_MINUTE} s per 60 s of audio on 2 cores, "
          f"peak {VOCANO_PEAK_MB / 1000:.2f} GB")
    results = {}
    for seconds in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(seconds), "--repeats", str(args.repeats),
               "--threads", str(threads), "--chunk-frames", str(chunk), "--device", args.device]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results[seconds] = r
        per_min = r["time"] * 60.0 / seconds
        print(f"{seconds:6.0f} s audio: {r['time']:.3f} s  ({per_min:.3f} s per min, RTF {r['time'] / seconds:.4f}, "
              f"{VOCANO_SECONDS_PER_MINUTE / per_min:.1f}x VOCANO; CPU {r['cpu'] * 60.0 / seconds:.3f} s per min)  "
              f"peak RSS {r['peak_mb']:.0f} MB, "
              f"+{r['peak_mb'] - r['base_mb']:.0f} MB over the {r['base_mb']:.0f} MB after imports + input"
              + (f", GPU peak {r['gpu_peak_mb']:.0f} MB" if r["gpu_peak_mb"] is not None else "")
              + f"  [runs: {', '.join(f'{t:.3f}' for t in r['times'])}]")
    err = parity(args.device)
    load = os.getloadavg()[0]
    ref = results.get(60.0) or results[args.sizes[-1]]
    per_min = ref["time"] * 60.0 / ref["seconds"]
    extra = max(r["peak_mb"] - r["base_mb"] for r in results.values())
    print(f"summary: {per_min:.3f} s per min of audio on {ref['seconds']:.0f} s "
          f"({VOCANO_SECONDS_PER_MINUTE / per_min:.1f}x faster than VOCANO's {VOCANO_SECONDS_PER_MINUTE} s), "
          f"extraction peak +{extra:.0f} MB over all sizes (VOCANO {VOCANO_PEAK_MB / 1000:.2f} GB), "
          f"parity max|err| {'n/a (no fixture)' if err is None else f'{err:.2g}'}, load average {load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
