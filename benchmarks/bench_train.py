"""Training throughput and memory: frame-shared chunks vs the naive per-window pipeline, float32 vs bf16.

Usage: ``python benchmarks/bench_train.py [--threads 2] [--steps 5] [--models gru_attention simplified]``

Each case runs in its own subprocess (so its peak RSS is its own) on synthetic
random features and times full training steps -- fetching the batch from the data
pipeline, forward, backward and the Adam step, all inside the timed region -- and
reports the median over ``--steps`` steps after ``--warmup`` steps. Every timed step
has the same, full batch (``windows per step`` classified frames, no padded frames):
a shorter batch (the end of an epoch) is fetched and run but not counted, and the
pipeline starts another epoch when one runs out.

- ``shared``: :class:`gru_attn.windows.ChunkDataset` batches (float32 songs stored
  once) through :meth:`NoteSegmenter.forward` (each frame encoded once);
- ``shared-bf16``: ``shared`` with the forward pass under bfloat16 autocast, as
  training runs with ``trainer.amp=true`` on a CPU with native bf16 (the loss, backward
  and Adam step as in training); on other CPUs bf16 is emulated and this row shows
  what that would cost;
- ``shared-bf16-stepN`` (``--frame-step N``, default: ``trainer.frame_step`` of
  ``conf/trainer/default.yaml``): ``shared-bf16`` training as
  with ``trainer.frame_step=N``: every chunk is encoded whole but only every N-th of
  its frames (random phase) is classified. Its "win/step" and "win/s" count the
  chunk's frames (the audio consumed), of which 1/N are classified;
- ``shared-stepN`` and ``shared-stepN-modules``: float32 training with
  ``trainer.frame_step=N``, what the default runs on a CPU without native bf16; the
  first runs the frequency conv stacks channels-last as training on CPU does
  (:func:`gru_attn.model.conv_stack_cl`), the second through their ``nn.Conv1d`` /
  ``nn.MaxPool1d`` / ``nn.BatchNorm1d`` modules (as before 7 Dec 2026, sixth session;
  the same model, weights and batches);
- ``naive``: what the replaced script did, rebuilt here: every 19-frame window
  materialised up front in float64 with the 174 bins zero-padded to 522, a per-item
  Dataset + DataLoader(shuffle) over the windows, each batch converted to float32,
  and a model built for 522 bins run per window (:meth:`NoteSegmenter.forward_windows`).

Both use the same model width (``conf/model/<preset>.yaml``) and, per row, the same
number of windows per step. "data MB/min" is the bytes of the stored training
arrays per minute of audio; "peak RSS" is the subprocess's maximum resident memory.
Prints figures only; never asserts timings.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import gru_attn.model  # noqa: E402
from gru_attn.devices import cpu_has_native_bf16  # noqa: E402
from gru_attn.engine import every_nth_frame  # noqa: E402
from gru_attn.frames import HOP_SECONDS  # noqa: E402
from gru_attn.loss import Sdt6Loss  # noqa: E402
from gru_attn.model import NoteSegmenter  # noqa: E402
from gru_attn.windows import ChunkDataset, naive_windows  # noqa: E402

N_CHANNELS, N_BINS, NAIVE_BINS, CONTEXT = 9, 174, 522, 9


def preset(name: str) -> dict:
    """Model kwargs of ``conf/model/<name>.yaml``."""
    cfg = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "model" / f"{name}.yaml"), resolve=True)
    cfg.pop("_target_")
    return cfg


def default_frame_step() -> int:
    """``frame_step`` of ``conf/trainer/default.yaml``."""
    return int(OmegaConf.load(REPO / "conf" / "trainer" / "default.yaml").frame_step)


def synthetic_song(seconds: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random (9, 174, T) float32 features and (T, 3) uint8 targets for ``seconds`` of audio."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds / HOP_SECONDS))
    feats = rng.standard_normal((N_CHANNELS, N_BINS, n), dtype=np.float32)
    targets = (rng.random((n, 3)) < (0.6, 0.05, 0.05)).astype(np.uint8)
    return feats, targets


class NaiveWindowDataset(torch.utils.data.Dataset):
    """Every window materialised: (n, 9, 522, 19) float64 (bins zero-padded), one item per frame."""

    def __init__(self, feats: np.ndarray, targets: np.ndarray, block: int = 256):
        n = feats.shape[-1]
        self.windows = np.zeros((n, N_CHANNELS, NAIVE_BINS, 2 * CONTEXT + 1), dtype=np.float64)
        for s in range(0, n, block):
            idx = np.arange(s, min(s + block, n))
            self.windows[idx, :, :N_BINS] = naive_windows(feats, idx, CONTEXT)
        self.targets = targets.astype(np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        return torch.from_numpy(self.windows[i]), torch.from_numpy(self.targets[i])


def rss_mb() -> float:
    """Current resident memory of this process in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def timed_steps(model, next_batch, step, windows_per_step: int, warmup: int, steps: int) -> list[float]:
    """Seconds per full training step: ``next_batch()`` (the data pipeline) + forward + backward +
    Adam step, for ``steps`` full steps after ``warmup`` full steps.

    ``step(model, batch)`` returns (loss, number of classified windows); steps with fewer
    than ``windows_per_step`` windows are run but not counted.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times, full = [], 0
    while len(times) < steps:
        t0 = time.perf_counter()
        loss, n_windows = step(model, next_batch())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - t0
        if n_windows != windows_per_step:
            continue
        full += 1
        if full > warmup:
            times.append(elapsed)
    return times


def endless(make_epoch):
    """A ``next_batch()`` over ``make_epoch(epoch)`` iterables, one epoch after another."""
    state = {"epoch": 0, "it": iter(make_epoch(0))}

    def next_batch():
        for _ in range(2):
            try:
                return next(state["it"])
            except StopIteration:
                state["epoch"] += 1
                state["it"] = iter(make_epoch(state["epoch"]))
        raise RuntimeError("the data pipeline yields no batches")

    return next_batch


def run_case(pipeline: str, model_name: str, windows_per_step: int, args) -> dict:
    """One benchmark case in this process; returns its figures."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    loss_fn = Sdt6Loss()
    kwargs = preset(model_name)
    rss0 = rss_mb()
    if pipeline.startswith("shared"):
        feats, targets = synthetic_song(args.shared_seconds)
        chunks = windows_per_step // args.chunk_frames
        data = ChunkDataset([(feats, targets)], chunk_frames=args.chunk_frames, context=CONTEXT)
        minutes, data_bytes = feats.shape[-1] * HOP_SECONDS / 60, data.nbytes
        if len(data.epoch_plan(0)) < chunks:
            sys.exit(
                f"error: --shared-seconds {args.shared_seconds}: the song holds fewer than the "
                f"{chunks} chunks of one step; give a longer song"
            )
        next_batch = endless(lambda epoch: data.epoch_batches(epoch, chunks))
        model = NoteSegmenter(n_channels=N_CHANNELS, n_bins=N_BINS, **kwargs)

        step_match = re.search(r"-step(\d+)", pipeline)
        frame_step = int(step_match.group(1)) if step_match else 1
        if pipeline.endswith("-modules"):  # the conv stacks through their nn modules, not channels-last
            gru_attn.model.cpu_training = lambda x: False

        def step(model, batch):
            x, y, m = batch
            n_frames = int(m.sum())
            kwargs = {}
            if frame_step > 1:
                x, y, m, _ = every_nth_frame(x, y, m, None, frame_step)
                kwargs = {"frame_step": frame_step}
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=pipeline.startswith("shared-bf16")):
                logits = model(x, **kwargs)
            return loss_fn(logits.float(), y, m)[0], n_frames
    else:
        feats, targets = synthetic_song(args.naive_seconds)
        data = NaiveWindowDataset(feats, targets)
        del feats
        minutes, data_bytes = len(data) * HOP_SECONDS / 60, data.windows.nbytes + data.targets.nbytes
        if len(data) < windows_per_step:
            sys.exit(
                f"error: --naive-seconds {args.naive_seconds}: the song holds {len(data)} windows, fewer "
                f"than the {windows_per_step} of one step; give a longer song"
            )
        loader = torch.utils.data.DataLoader(data, batch_size=windows_per_step, shuffle=True)
        next_batch = endless(lambda epoch: loader)
        model = NoteSegmenter(n_channels=N_CHANNELS, n_bins=NAIVE_BINS, **kwargs)

        def step(model, batch):
            x, y = batch
            logits = model.forward_windows(x.float())[:, None]
            return loss_fn(logits, y[:, None], torch.ones(y.shape[0], 1, dtype=torch.bool))[0], len(y)

    rss_data = rss_mb() - rss0
    times = timed_steps(model, next_batch, step, windows_per_step, args.warmup, args.steps)
    return {
        "pipeline": pipeline,
        "model": model_name,
        "windows_per_step": windows_per_step,
        "windows_per_s": windows_per_step / statistics.median(times),
        "data_mb_per_min": data_bytes / 1e6 / minutes,
        "rss_growth_mb_per_min": rss_data / minutes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        "minutes": minutes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed full steps per case (median)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--chunk-frames", type=int, default=128)
    parser.add_argument("--naive-windows", type=int, default=256, help="windows per step of the compared rows")
    parser.add_argument("--train-chunks", type=int, default=16, help="chunks per step of the training-config rows")
    parser.add_argument("--shared-seconds", type=float, default=120.0)
    parser.add_argument("--naive-seconds", type=float, default=12.0)
    parser.add_argument("--models", nargs="+", default=["gru_attention", "simplified"], help="conf/model presets")
    parser.add_argument("--no-bf16", action="store_true", help="skip the shared-bf16 rows")
    parser.add_argument(
        "--frame-step",
        type=int,
        default=default_frame_step(),
        help="trainer.frame_step of the shared-bf16-stepN rows (default: conf/trainer/default.yaml's; 1: no such rows)",
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: pipeline,model,windows
    args = parser.parse_args()
    if args.case:
        pipeline, model_name, windows = args.case.split(",")
        print(json.dumps(run_case(pipeline, model_name, int(windows), args)))
        return

    cases = []
    for model_name in args.models:
        cases += [
            ("naive", model_name, args.naive_windows),
            ("shared", model_name, args.naive_windows),
            ("shared", model_name, args.train_chunks * args.chunk_frames),
        ]
        if args.frame_step > 1:
            for suffix in ("", "-modules"):
                cases.append(
                    (f"shared-step{args.frame_step}{suffix}", model_name, args.train_chunks * args.chunk_frames)
                )
        if not args.no_bf16:
            cases.append(("shared-bf16", model_name, args.train_chunks * args.chunk_frames))
            if args.frame_step > 1:
                cases.append((f"shared-bf16-step{args.frame_step}", model_name, args.train_chunks * args.chunk_frames))
    results = []
    print(
        f"{'model':<14}{'pipeline':<19}{'win/step':>9}{'win/s':>10}{'data MB/min':>13}"
        f"{'RSS+ MB/min':>13}{'peak RSS MB':>13}",
        flush=True,
    )
    for pipeline, model_name, windows in cases:
        cmd = [sys.executable, __file__, *sys.argv[1:], "--case", f"{pipeline},{model_name},{windows}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(
                proc.stderr.strip().splitlines()[-1]
                if proc.stderr.strip()
                else f"error: case {pipeline},{model_name},{windows} failed (exit {proc.returncode})"
            )
        r = json.loads(proc.stdout.splitlines()[-1])
        results.append(r)
        print(
            f"{model_name:<14}{pipeline:<19}{windows:>9}{r['windows_per_s']:>10.1f}{r['data_mb_per_min']:>13.1f}"
            f"{r['rss_growth_mb_per_min']:>13.1f}{r['peak_rss_mb']:>13.0f}",
            flush=True,
        )

    def find(pipeline, model_name, windows):
        return next(
            r for r in results if (r["pipeline"], r["model"], r["windows_per_step"]) == (pipeline, model_name, windows)
        )

    parts = []
    for model_name in args.models:
        naive = find("naive", model_name, args.naive_windows)
        same = find("shared", model_name, args.naive_windows)
        train = find("shared", model_name, args.train_chunks * args.chunk_frames)
        parts.append(
            f"{model_name}: {same['windows_per_s'] / naive['windows_per_s']:.1f}x windows/s at "
            f"{args.naive_windows} windows/step ({train['windows_per_s'] / naive['windows_per_s']:.1f}x at "
            f"{args.train_chunks}x{args.chunk_frames}), "
            f"{naive['data_mb_per_min'] / same['data_mb_per_min']:.0f}x less data memory per minute"
        )
    print(f"frame-shared vs naive ({args.threads} threads): " + "; ".join(parts))
    if not args.no_bf16:
        train = args.train_chunks * args.chunk_frames
        print(
            f"bf16 autocast vs float32 ({args.threads} threads, {train} windows/step; CPU "
            f"{'has' if cpu_has_native_bf16() else 'lacks'} native bf16): "
            + "; ".join(
                f"{m} {find('shared-bf16', m, train)['windows_per_s'] / find('shared', m, train)['windows_per_s']:.2f}x"
                for m in args.models
            )
        )
    if args.frame_step > 1:
        train, step = args.train_chunks * args.chunk_frames, f"shared-step{args.frame_step}"
        print(
            f"channels-last conv stacks vs their modules (float32, frame_step {args.frame_step}, {train} chunk "
            "frames/step): "
            + "; ".join(
                f"{m} {find(step, m, train)['windows_per_s'] / find(step + '-modules', m, train)['windows_per_s']:.2f}x"
                " chunk frames/s"
                for m in args.models
            )
        )
    if not args.no_bf16 and args.frame_step > 1:
        train = args.train_chunks * args.chunk_frames
        print(
            f"trainer.frame_step={args.frame_step} vs 1 (bf16, {train} chunk frames/step): "
            + "; ".join(
                f"{m} {find(f'shared-bf16-step{args.frame_step}', m, train)['windows_per_s'] / find('shared-bf16', m, train)['windows_per_s']:.2f}x"
                " chunk frames/s"
                for m in args.models
            )
        )
    if {"simplified", "gru_attention"} <= set(args.models):
        speed = (
            find("shared", "simplified", args.naive_windows)["windows_per_s"]
            / find("shared", "gru_attention", args.naive_windows)["windows_per_s"]
        )
        print(f"simplified trains {speed:.1f}x faster than gru_attention.")


if __name__ == "__main__":
    main()
