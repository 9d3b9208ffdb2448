"""Accuracy and speed of the pitch trackers (``gru_attn.pitch``) on the synthetic corpus.

For each variant (clean voice, voice + accompaniment, voice + reverb) renders the
same songs with ``gru_attn.synth.render_song`` (test split, in memory, no features)
and compares every tracker's contour with the true f0 on the frame grid:

- RPA: fraction of truly voiced frames whose estimate is voiced and within 50 cents;
- RCA: the same, ignoring octave errors (raw chroma accuracy);
- recall: fraction of truly voiced frames estimated voiced;
- FA: fraction of truly unvoiced frames estimated voiced (false alarm);
- s/min: CPU seconds of tracking per minute of audio (process time, so a busy shared
  machine does not inflate it; the trackers are single-threaded).

Prints a table; asserts nothing. Run from the repository root::

    python benchmarks/bench_pitch.py [--songs 6] [--seconds 30] [--methods world praat harvest]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from gru_attn.frames import SAMPLE_RATE  # noqa: E402
from gru_attn.pitch import METHODS, track_pitch  # noqa: E402
from gru_attn.synth import render_song  # noqa: E402

VARIANTS = {"clean": {}, "accomp +6 dB": {"accompaniment_db": 6.0}, "accomp 0 dB": {"accompaniment_db": 0.0},
            "reverb 0.5": {"reverb": 0.5}}


def scores(estimate: np.ndarray, truth: np.ndarray) -> dict:
    """Frame-level pitch scores of ``estimate`` against ``truth`` (both (T,) Hz, 0 = unvoiced)."""
    voiced, guessed = truth > 0, estimate > 0
    both = voiced & guessed
    cents = np.zeros(len(truth))
    cents[both] = 1200 * np.log2(estimate[both] / truth[both])
    chroma = np.abs(cents - 1200 * np.round(cents / 1200))
    n_voiced = max(int(voiced.sum()), 1)
    return {"RPA": float(np.sum(both & (np.abs(cents) <= 50)) / n_voiced),
            "RCA": float(np.sum(both & (chroma <= 50)) / n_voiced),
            "recall": float(np.sum(both) / n_voiced),
            "FA": float(np.sum(guessed & ~voiced) / max(int((~voiced).sum()), 1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=6, help="songs per variant")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each song")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()
    print(f"{args.songs} test songs of ~{args.seconds:g} s per variant (seed {args.seed})")
    print(f"| {'variant':<12} | {'method':<8} | {'RPA':>5} | {'RCA':>5} | {'recall':>6} | {'FA':>5} | {'s/min':>5} |")
    print(f"|{'-' * 14}|{'-' * 10}|{'-' * 7}|{'-' * 7}|{'-' * 8}|{'-' * 7}|{'-' * 7}|")
    for variant, options in VARIANTS.items():
        songs = [render_song(args.seed, "test", i, (args.seconds, args.seconds), **options) for i in range(args.songs)]
        minutes = sum(len(s.pcm) for s in songs) / SAMPLE_RATE / 60
        truth = np.concatenate([s.f0 for s in songs])  # frames pooled over songs
        for method in args.methods:
            estimates, start = [], time.process_time()
            for song in songs:
                estimates.append(track_pitch(song.pcm.astype(np.float32) / 32767.0, method))
            elapsed = time.process_time() - start
            row = scores(np.concatenate(estimates), truth)
            print(f"| {variant:<12} | {method:<8} | {row['RPA']:5.3f} | {row['RCA']:5.3f} | {row['recall']:6.3f} "
                  f"| {row['FA']:5.3f} | {elapsed / minutes:5.2f} |", flush=True)

if __name__ == "__main__":
    main()
