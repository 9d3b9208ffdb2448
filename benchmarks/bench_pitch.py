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

With ``--ckpt`` (a checkpoint with a pitch head) the method ``model`` is added: the
network's own frame pitch (CFP features, then the model; f0 where its voicing says
voiced), see :func:`gru_attn.contract.model_pitch_contours`. Its s/min counts the CFP
features and the model (which transcription computes anyway), not the trackers' work.

Prints a table; asserts nothing. Run from the repository root::

    python benchmarks/bench_pitch.py [--songs 6] [--seconds 30] [--methods world praat harvest] [--ckpt best.pt]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from gru_attn.frames import SAMPLE_RATE  # noqa: E402
from gru_attn.metrics import frame_pitch_scores  # noqa: E402
from gru_attn.pitch import METHODS, track_pitch  # noqa: E402
from gru_attn.synth import render_song  # noqa: E402

VARIANTS = {
    "clean": {},
    "accomp +6 dB": {"accompaniment_db": 6.0},
    "accomp 0 dB": {"accompaniment_db": 0.0},
    "reverb 0.5": {"reverb": 0.5},
}


scores = frame_pitch_scores  # RPA / RCA / recall / FA of an estimate against the true f0 (both (T,) Hz)


def model_pitch(model, audio: np.ndarray) -> np.ndarray:
    """(T,) Hz: the pitch head's f0 on frames it calls voiced, 0 elsewhere."""
    from gru_attn.contract import model_pitch_contours
    from gru_attn.inference import features_for_audio
    from gru_attn.model import predict_song

    contour, _ = model_pitch_contours(predict_song(model, features_for_audio(audio)))
    return contour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=6, help="songs per variant")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each song")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--ckpt", help="checkpoint with a pitch head: adds the method 'model'")
    args = parser.parse_args()
    model = None
    if args.ckpt:
        import torch

        from gru_attn.errors import InputError
        from gru_attn.inference import check_pitch_method, load_model

        try:
            model, _ = load_model(args.ckpt)
            check_pitch_method(model, "model", args.ckpt)
        except InputError as exc:
            sys.exit(f"error: {exc}")
        torch.set_num_threads(1)  # comparable with the single-threaded trackers
    methods = list(args.methods) + (["model"] if model is not None else [])
    print(f"{args.songs} test songs of ~{args.seconds:g} s per variant (seed {args.seed})")
    print(f"| {'variant':<12} | {'method':<8} | {'RPA':>5} | {'RCA':>5} | {'recall':>6} | {'FA':>5} | {'s/min':>5} |")
    print(f"|{'-' * 14}|{'-' * 10}|{'-' * 7}|{'-' * 7}|{'-' * 8}|{'-' * 7}|{'-' * 7}|")
    for variant, options in VARIANTS.items():
        songs = [render_song(args.seed, "test", i, (args.seconds, args.seconds), **options) for i in range(args.songs)]
        minutes = sum(len(s.pcm) for s in songs) / SAMPLE_RATE / 60
        truth = np.concatenate([s.f0 for s in songs])  # frames pooled over songs
        for method in methods:
            estimates, start = [], time.process_time()
            for song in songs:
                audio = song.pcm.astype(np.float32) / 32767.0
                estimate = model_pitch(model, audio) if method == "model" else track_pitch(audio, method)
                estimates.append(np.pad(estimate[: len(song.f0)], (0, max(0, len(song.f0) - len(estimate)))))
            elapsed = time.process_time() - start
            row = scores(np.concatenate(estimates), truth)
            print(
                f"| {variant:<12} | {method:<8} | {row['RPA']:5.3f} | {row['RCA']:5.3f} | {row['recall']:6.3f} "
                f"| {row['FA']:5.3f} | {elapsed / minutes:5.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
