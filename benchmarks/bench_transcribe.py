"""End-to-end transcription speed on CPU: real-time factor per stage, frame-shared vs per-window model.

Usage: ``python benchmarks/bench_transcribe.py [--ckpt CKPT | --model gru_attention] [--seconds 60]
[--threads 2] [--repeats 3] [--window-frames 300] [--pitch-methods praat model]``

A ``--seconds`` song from the synthetic singer (``gru_attn.synth.render_song``, split
"test", index 0) is transcribed ``--repeats`` times with
:func:`gru_attn.inference.transcribe_audio` after one warm-up run on 5 s of it;
the median (and minimum) seconds of every stage (CFP features, pitch tracking, model,
decoding) and the real-time factor (processing seconds per second of audio) are printed,
once per ``--pitch-methods`` entry (default: praat and, for a model with a pitch head,
model, whose "pitch" stage is free: its pitch comes out of the "model" stage).
The measurements of a repeat are interleaved (end to end, frame-shared, per-window), so
that load from other processes affects each alike; on a shared machine the minima are
the better estimate of the unloaded speed.

Without ``--ckpt`` the model is ``conf/model/<--model>.yaml`` randomly initialised
(speed depends on the architecture only) with the default decoding settings and
pitch tracker.

Model part, frame-shared vs per-window: the frame-shared path is
:func:`gru_attn.model.predict_song` over the whole song (each frame encoded once).
The per-window path (:meth:`NoteSegmenter.forward_windows`, every 19-frame window
encoded whole, as a naive pipeline does) runs on ``--window-frames`` evenly spaced
frames only, split into one batch per thread (at most 256 windows each); its time is
extrapolated linearly to all frames (the work per window is constant). Both paths run
with the same threading: ``--threads`` single-threaded workers
(:func:`gru_attn.devices.single_thread_workers`), one piece of work each at a time.
Both paths' logits on those frames are compared.

Frame-shared, CPU inference path vs ``torch.nn`` modules: ``predict_song`` runs the GRU and
the attention of eval mode on CPU through :func:`gru_attn.model.window_gru` and
:func:`gru_attn.model.centre_attention`; the third arm runs the same ``predict_song`` (same
segments, same workers) with the windows through ``nn.GRU`` and ``nn.MultiheadAttention``
(``classify_encoded(..., reference=True)``, the path of training and of versions before
7 Dec 2026, fourth session); its logits are compared too.
Prints figures only; never asserts timings.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gru_attn.config import compose  # noqa: E402
from gru_attn.decode import build_decoder  # noqa: E402
from gru_attn.devices import single_thread_workers  # noqa: E402
from gru_attn.frames import SAMPLE_RATE  # noqa: E402
from gru_attn.inference import STAGES, ModelInfo, features_for_audio, load_model, transcribe_audio, with_pitch_method  # noqa: E402
from gru_attn.model import CPU_SEGMENT_FRAMES, NoteSegmenter, num_parameters, predict_song  # noqa: E402
from gru_attn.pitch import DEFAULT_METHOD, INFERENCE_METHODS  # noqa: E402
from gru_attn.synth import render_song  # noqa: E402
from gru_attn.windows import naive_windows  # noqa: E402

WINDOW_BATCH = 256


def random_model(preset: str) -> tuple[NoteSegmenter, ModelInfo]:
    """A randomly initialised model of ``conf/model/<preset>.yaml`` (eval mode) and its inference info."""
    config = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "model" / f"{preset}.yaml"), resolve=True)
    config.pop("_target_")
    config.update(n_channels=9, n_bins=174)
    torch.manual_seed(0)
    model = NoteSegmenter(**config).eval()
    layout = {
        "n_channels": 9,
        "n_bins": 174,
        "context": config["context"],
        "hop_seconds": 0.02,
        "sample_rate": SAMPLE_RATE,
    }
    return model, ModelInfo(
        path=Path(f"<random {preset}>"),
        model_config=config,
        feature_layout=layout,
        decode=build_decoder(compose([]).decode),  # the default decoder
        pitch_method=DEFAULT_METHOD,
    )


def song_audio(seconds: float) -> np.ndarray:
    """(N,) float32 audio of one synthetic song of about ``seconds`` s, scaled as ``audio.load_audio`` reads it."""
    pcm = render_song(0, "test", 0, song_seconds=(seconds, seconds)).pcm
    return pcm.astype(np.float32) / np.float32(32767.0)


def per_window_seconds(
    model: NoteSegmenter, feats: np.ndarray, n_frames: int, threads: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """Seconds of per-window inference on ``n_frames`` evenly spaced frames, on ``threads``
    single-threaded workers (as predict_song on CPU); (seconds, frame indices, logits)."""
    idx = np.unique(np.linspace(0, feats.shape[-1] - 1, n_frames).round().astype(np.int64))
    size = min(WINDOW_BATCH, -(-len(idx) // threads))

    def run(s: int) -> torch.Tensor:
        with torch.no_grad():  # grad mode is per thread
            return model.forward_windows(torch.from_numpy(naive_windows(feats, idx[s : s + size], model.context)))

    start = time.perf_counter()
    with single_thread_workers(threads) as pool:
        logits = list(pool.map(run, range(0, len(idx), size)))
    return time.perf_counter() - start, idx, torch.cat(logits).numpy()


@contextlib.contextmanager
def torch_nn_windows():
    """Within the block, :class:`NoteSegmenter` classifies windows through ``nn.GRU`` and
    ``nn.MultiheadAttention`` also in eval mode on CPU (the reference path)."""
    fast = NoteSegmenter.classify_encoded
    NoteSegmenter.classify_encoded = functools.partialmethod(fast, reference=True)
    try:
        yield
    finally:
        NoteSegmenter.classify_encoded = fast


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="checkpoint to time (default: a randomly initialised --model)")
    parser.add_argument("--model", default="gru_attention", help="conf/model preset without --ckpt")
    parser.add_argument("--seconds", type=float, default=60.0, help="song length in s (default 60)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; medians are printed (default 3)")
    parser.add_argument("--window-frames", type=int, default=300, help="frames timed per-window (default 300)")
    parser.add_argument(
        "--segment-frames",
        type=int,
        default=None,
        help="frame-shared segment length (default: predict_song's, on CPU at most 512, cut evenly among the threads)",
    )
    parser.add_argument(
        "--pitch-methods",
        nargs="+",
        choices=INFERENCE_METHODS,
        default=None,
        help="pitch methods timed end to end (default: praat, and model when the model has a head)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model, info = load_model(args.ckpt) if args.ckpt else random_model(args.model)
    audio = song_audio(args.seconds)
    duration = len(audio) / SAMPLE_RATE
    methods = args.pitch_methods or (["praat", "model"] if getattr(model, "has_pitch_head", False) else ["praat"])
    infos = {m: with_pitch_method(model, info, m) for m in methods}
    head = num_parameters(model.pitch) if getattr(model, "pitch", None) is not None else 0
    print(
        f"model {info.path}: {num_parameters(model):,} parameters ({head:,} in the pitch head); "
        f"checkpoint pitch method {info.pitch_method}; "
        f"{duration:.1f} s song; torch threads {torch.get_num_threads()} of {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )

    for m in methods:
        transcribe_audio(model, infos[m], audio[: 5 * SAMPLE_RATE], segment_frames=args.segment_frames)  # warm-up
    feats = features_for_audio(audio)
    n = feats.shape[-1]
    runs, shared, shared_nn, per_window = {m: [] for m in methods}, [], [], []
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits every measure alike
        for m in methods:
            runs[m].append(transcribe_audio(model, infos[m], audio, segment_frames=args.segment_frames))
        start = time.perf_counter()
        logits = predict_song(model, feats, segment_frames=args.segment_frames)
        shared.append(time.perf_counter() - start)
        with torch_nn_windows():
            start = time.perf_counter()
            logits_nn = predict_song(model, feats, segment_frames=args.segment_frames)
            shared_nn.append(time.perf_counter() - start)
        seconds, idx, window_logits = per_window_seconds(model, feats, args.window_frames, args.threads)
        per_window.append(seconds * n / len(idx))

    for m in methods:
        print(f"\nend to end, pitch method {m}, {args.repeats} runs ({len(runs[m][0].notes)} notes found):")
        print(f"{'stage':<10} {'median s':>9} {'RTF':>8} {'min s':>8} {'RTF':>8}")
        rows = {stage: [r.timings[stage] for r in runs[m]] for stage in STAGES}
        rows["total"] = [r.seconds for r in runs[m]]
        for stage, values in rows.items():
            med, low = statistics.median(values), min(values)
            print(f"{stage:<10} {med:>9.3f} {med / duration:>8.4f} {low:>8.3f} {low / duration:>8.4f}")

    diff = float(np.abs(window_logits - logits[idx]).max())
    print(f"\nmodel part, {n} frames, {args.repeats} runs: {'median s':>9} {'RTF':>8} {'min s':>8}")
    for label, values in (
        (f"frame-shared (predict_song, at most {args.segment_frames or CPU_SEGMENT_FRAMES} frames a segment)", shared),
        ("frame-shared, windows through nn.GRU / nn.MultiheadAttention", shared_nn),
        (f"per-window (forward_windows on {len(idx)} frames, x{n / len(idx):.1f})", per_window),
    ):
        med = statistics.median(values)
        print(f"{label:<62} {med:>9.3f} {med / duration:>8.4f} {min(values):>8.3f}")
    print(
        f"frame-shared vs per-window: speed-up {statistics.median(per_window) / statistics.median(shared):.1f}x "
        f"(medians), {min(per_window) / min(shared):.1f}x (minima); max |logit difference| {diff:.2e}"
    )
    ratios = [a / b for a, b in zip(shared_nn, shared)]
    print(
        f"CPU inference path vs nn modules: speed-up {statistics.median(ratios):.2f}x (median of pairs), "
        f"{min(shared_nn) / min(shared):.2f}x (minima); max |logit difference| "
        f"{float(np.abs(logits_nn - logits).max()):.2e}"
    )
    print(
        f"load average {os.getloadavg()[0]:.1f} at the end (other processes share the CPUs when above {args.threads})"
    )


if __name__ == "__main__":
    main()
