"""Benchmark the CFP extractor against a VOCANO-shaped reference: speed, real-time factor, peak memory.

    python benchmarks/bench_cfp.py [--sizes 10 60 300] [--repeats 3] [--threads 2]
                                   [--batch-frames N] [--device cpu] [--reference-max 60]

Each size runs in a fresh subprocess on a synthetic signal (a harmonic tone with
vibrato plus noise, float32 at 16 kHz). Time is the median wall time of ``repeats``
calls of ``cfp.cfp_features`` after one warm-up call on 1 s of audio. Memory is the
process peak RSS (``resource.getrusage().ru_maxrss``), reported whole and as what the
extraction adds over the peak just before the first timed call (after imports, warm-up
and building the input signal).

Speed-up. For sizes up to ``--reference-max`` seconds a second subprocess runs
``vocano_reference.py`` (VOCANO's feature computation restated with the same numpy
operations and memory layout: one (8000, T) matrix per window, full FFTs over it,
``np.power``; its error against the fixture is printed). The two processes take turns,
one extraction each per repeat, so both medians see the same machine load while
neither disturbs the other's memory; the speed-up is the ratio of the medians. For
comparison the issue's figure for VOCANO itself, 8.5 s per 60 s on "a 2-core machine"
(peak 1.26 GB), gives a second ratio. This VM shares its host and its speed drifts by
up to 30 % between runs, so the load average and the process CPU time (all threads)
are printed too.
Prints figures only; never asserts.
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
FIXTURE = REPO / "tests" / "fixtures" / "vocano_cfp"
VOCANO_SECONDS_PER_MINUTE = 8.5
VOCANO_PEAK_MB = 1260.0
SETTLE_SECONDS = 1.0  # pause before each timed run: runs right after the reference's 1.4 GB one came out slower


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _signal(seconds: float):
    """(N,) float32 harmonic tone with vibrato plus noise, built 1 s at a time (keeps the RSS peak low)."""
    import numpy as np

    rate, n = 16000, int(seconds * 16000)
    out = np.empty(n, dtype=np.float32)
    rng = np.random.default_rng(0)
    phase = 0.0
    for start in range(0, n, rate):
        t = np.arange(start, min(start + rate, n)) / rate
        f0 = 220.0 * 2 ** ((3 * np.sin(2 * np.pi * 0.25 * t) + 0.3 * np.sin(2 * np.pi * 5.5 * t)) / 12)
        ph = phase + 2 * np.pi * np.cumsum(f0) / rate
        phase = ph[-1]
        x = sum(0.3 / k * np.sin(k * ph) for k in range(1, 8)) + 0.01 * rng.standard_normal(t.size)
        out[start : start + t.size] = x
    return out


def child(seconds: float, threads: int, batch_frames: int | None, device: str, reference: bool) -> None:
    """Serve timed extractions on ``seconds`` of audio: one per ``run`` line on stdin.

    Prints one JSON line when ready, one per ``run`` ({"time", "cpu"}: wall and process CPU
    seconds) and, on ``quit``, one with the memory figures.
    """
    import torch

    from gru_attn import cfp

    torch.set_num_threads(threads)
    if reference:
        import vocano_reference

        extract = vocano_reference.features
    else:

        def extract(audio):
            return cfp.cfp_features(audio, device=device, batch_frames=batch_frames)

    extract(_signal(1.0))  # warm-up: plans, filterbanks
    audio = _signal(seconds)
    base = _peak_rss_mb()
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start, cpu_start = time.perf_counter(), time.process_time()
        extract(audio)
        if device != "cpu":
            torch.cuda.synchronize()
        print(json.dumps({"time": time.perf_counter() - start, "cpu": time.process_time() - cpu_start}), flush=True)
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device != "cpu" else None
    print(json.dumps({"peak_mb": _peak_rss_mb(), "base_mb": base, "gpu_peak_mb": gpu_mb}), flush=True)


def parity(device: str) -> tuple[float, float] | None:
    """max |ours - VOCANO| and max |reference - VOCANO| on the fixture probe, or None without the fixture."""
    if not FIXTURE.is_dir():
        return None
    import numpy as np
    import vocano_reference

    from gru_attn.audio import load_audio
    from gru_attn.cfp import cfp_features

    audio, expected = load_audio(FIXTURE / "probe.wav"), np.load(FIXTURE / "probe_feat.npz")["feat"]
    return (
        float(np.abs(cfp_features(audio, device=device) - expected).max()),
        float(np.abs(vocano_reference.features(audio) - expected).max()),
    )


class _Child:
    """A ``child`` subprocess: ``run()`` times one extraction, ``close()`` returns the memory figures."""

    def __init__(self, seconds: float, args: argparse.Namespace, threads: int, batch: int, reference: bool):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(seconds),
            "--threads",
            str(threads),
            "--batch-frames",
            str(batch),
            "--device",
            args.device,
        ] + (["--child-reference"] if reference else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        self._read()  # ready
        self.times, self.cpu = [], []

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench_cfp: a child process failed (exit status {self.proc.wait()})")
        return json.loads(line)

    def run(self) -> None:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        r = self._read()
        self.times.append(r["time"])
        self.cpu.append(r["cpu"])

    def close(self) -> dict:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        r = self._read()
        self.proc.wait()
        return {**r, "time": statistics.median(self.times), "cpu": statistics.median(self.cpu), "times": self.times}


def _memory(r: dict) -> str:
    return f"peak RSS {r['peak_mb']:.0f} MB (+{r['peak_mb'] - r['base_mb']:.0f} MB over {r['base_mb']:.0f} MB before)"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gru_attn.cfp import BATCH_FRAMES, CUDA_BATCH_FRAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[10.0, 60.0, 300.0], help="audio lengths (s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (at most 2)")
    parser.add_argument(
        "--batch-frames",
        type=int,
        default=None,
        help=f"frames per batch (default: {BATCH_FRAMES} on cpu, {CUDA_BATCH_FRAMES} on cuda)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--reference-max",
        type=float,
        default=60.0,
        help="time the VOCANO-shaped reference on sizes up to this many seconds "
        "(it needs ~1.4 GB per minute of audio); 0 skips it",
    )
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--child-reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    threads = max(1, min(args.threads, 2))

    if args.child is not None:
        child(args.child, threads, args.batch_frames, args.device, args.child_reference)
        return 0

    batch = args.batch_frames or (BATCH_FRAMES if args.device == "cpu" else CUDA_BATCH_FRAMES)
    print(
        f"CFP benchmark: device {args.device}, {threads} torch thread(s), batch {batch} frames, "
        f"median of {args.repeats}; load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    ours, ratios = {}, {}
    for seconds in args.sizes:
        children = [_Child(seconds, args, threads, batch, reference=False)]
        if seconds <= args.reference_max:
            children.append(_Child(seconds, args, threads, batch, reference=True))
        for _ in range(args.repeats):
            for c in children:
                time.sleep(SETTLE_SECONDS)
                c.run()
        r, *ref = [c.close() for c in children]
        ours[seconds] = r
        per_min = r["time"] * 60.0 / seconds
        print(
            f"{seconds:6.0f} s audio: {r['time']:.3f} s ({per_min:.3f} s per min, RTF {r['time'] / seconds:.4f}, "
            f"CPU {r['cpu'] * 60.0 / seconds:.3f} s per min) {_memory(r)}"
            + (f", GPU peak {r['gpu_peak_mb']:.0f} MB" if r["gpu_peak_mb"] is not None else "")
            + f"  [runs: {', '.join(f'{x:.3f}' for x in r['times'])}]",
            flush=True,
        )
        if ref:
            ratios[seconds] = ref[0]["time"] / r["time"]
            print(
                f"{'':8}VOCANO-shaped reference, taking turns with ours: {ref[0]['time']:.2f} s -> "
                f"{ratios[seconds]:.1f}x faster side by side; reference {_memory(ref[0])}  "
                f"[runs: {', '.join(f'{x:.2f}' for x in ref[0]['times'])}]",
                flush=True,
            )
    errors = parity(args.device)
    size = 60.0 if 60.0 in ours else args.sizes[-1]
    per_min = ours[size]["time"] * 60.0 / size
    side_by_side = (
        f"{ratios[size]:.1f}x faster than the VOCANO-shaped reference side by side, " if size in ratios else ""
    )
    print(
        f"summary: {per_min:.3f} s per min of audio on {size:.0f} s: {side_by_side}"
        f"{VOCANO_SECONDS_PER_MINUTE / per_min:.1f}x the issue's {VOCANO_SECONDS_PER_MINUTE} s for VOCANO; "
        f"process peak {ours[size]['peak_mb']:.0f} MB on {size:.0f} s, "
        f"{max(x['peak_mb'] for x in ours.values()):.0f} MB over all sizes "
        f"(extraction +{max(x['peak_mb'] - x['base_mb'] for x in ours.values()):.0f} MB; "
        f"VOCANO {VOCANO_PEAK_MB / 1000:.2f} GB); parity max|err| "
        + ("n/a (no fixture)" if errors is None else f"{errors[0]:.2g} (reference {errors[1]:.2g})")
        + f"; load average {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
