"""Where do the onset / offset heads fire relative to the reference notes, and what does the audio do there?

    python experiments/event_heads/analyze.py CKPT WAV_DIR NOTES_DIR OUT_DIR

Per clip: the model's logits (cached as ``OUT_DIR/<clip>.npz``), every onset / offset peak
>= 0.5 with its place relative to the nearest reference event of its kind (``near``: within
2 frames = 40 ms; ``early`` / ``late``: 3-8 frames before / after; ``inside``: at least 3
frames inside a note and none of those; ``elsewhere``), and around it (+-3 frames) the
level dip (max level minus level at the peak, dB), the spectral flux and the pitch head's
movement (cents, peak to peak). Random frames inside notes are the baseline. Writes
``OUT_DIR/peaks.csv`` and prints the medians per head and place.
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.signal import find_peaks, stft

from gru_attn.audio import load_audio
from gru_attn.contract import model_pitch_contours, split_logits
from gru_attn.decode import probs_from_logits
from gru_attn.frames import HOP, time_to_frame
from gru_attn.inference import features_for_audio, load_model
from gru_attn.model import predict_song
from gru_attn.notes import read_notes

WINDOW = 3  # frames either side of a peak for the descriptors


def descriptors(audio: np.ndarray, n_frames: int, cents: np.ndarray) -> dict[str, np.ndarray]:
    """(T,) level in dB (40 ms RMS at each frame centre), spectral flux, and the pitch in cents."""
    x = audio.astype(np.float64)
    centres = HOP * (np.arange(n_frames) + 1)
    level = np.array([20 * np.log10(np.sqrt(np.mean(x[max(0, c - 320) : c + 320] ** 2)) + 1e-9) for c in centres])
    _, _, z = stft(x, fs=16000, nperseg=1024, noverlap=1024 - HOP, boundary=None, padded=False)
    spectrum = np.log(np.abs(z) + 1e-6)
    flux = np.r_[0.0, np.sqrt(np.mean(np.maximum(np.diff(spectrum, axis=1), 0) ** 2, axis=0))]
    stft_centres = 512 + HOP * np.arange(spectrum.shape[1])
    flux = flux[np.clip(np.searchsorted(stft_centres, centres), 0, len(flux) - 1)]
    return {"level": level, "flux": flux, "cents": cents}


def around(d: dict, p: int) -> dict:
    """Descriptors of the +-WINDOW frames around frame ``p``."""
    lo, hi = max(p - WINDOW, 0), min(p + WINDOW + 1, len(d["level"]))
    return {
        "dip_db": float(d["level"][lo:hi].max() - d["level"][p]),
        "flux": float(d["flux"][p]),
        "cents_ptp": float(np.ptp(d["cents"][lo:hi])),
    }


def place(p: int, events: np.ndarray, onsets: np.ndarray, offsets: np.ndarray) -> str:
    """Where frame ``p`` lies relative to the reference ``events`` (frames) and notes."""
    d = int(p - events[np.argmin(np.abs(p - events))])
    if abs(d) <= 2:
        return "near"
    if 3 <= abs(d) <= 8:
        return "late" if d > 0 else "early"
    return "inside" if np.any((p >= onsets + 3) & (p <= offsets - 3)) else "elsewhere"


def main(ckpt: str, wav_dir: Path, notes_dir: Path, out: Path) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    model, _ = load_model(ckpt)
    rng = np.random.default_rng(0)
    rows = []
    for wav in sorted(wav_dir.glob("*.wav")):
        audio = load_audio(wav)
        cache = out / f"{wav.stem}.npz"
        if cache.exists():
            logits = np.load(cache)["logits"]
        else:
            logits = predict_song(model, features_for_audio(audio))
            np.savez_compressed(cache, logits=logits)
        probs = probs_from_logits(split_logits(logits)[0])
        _, f0 = model_pitch_contours(logits)
        d = descriptors(audio, len(logits), 1200 * np.log2(np.maximum(f0, 1.0) / 440.0))
        ref = read_notes(next(notes_dir.glob(wav.stem + ".*")))
        onsets, offsets = time_to_frame(ref.onsets), time_to_frame(ref.offsets)
        for head, column, events in (("onset", 1, onsets), ("offset", 2, offsets)):
            peaks, _ = find_peaks(np.r_[0.0, probs[:, column], 0.0], height=0.5, distance=3)
            for p in peaks - 1:
                rows.append(
                    {
                        "clip": wav.stem,
                        "head": head,
                        "frame": int(p),
                        "place": place(p, events, onsets, offsets),
                        "prob": float(probs[p, column]),
                        "voiced": float(probs[p, 0]),
                        **around(d, p),
                    }
                )
        interior = np.zeros(len(logits), dtype=bool)
        for a, e in zip(onsets, offsets):
            interior[max(a + 4, 0) : max(e - 4, 0)] = True
        for p in rng.choice(np.flatnonzero(interior), size=min(40, int(interior.sum())), replace=False):
            rows.append(
                {
                    "clip": wav.stem,
                    "head": "none",
                    "frame": int(p),
                    "place": "random inside",
                    "prob": 0.0,
                    "voiced": float(probs[p, 0]),
                    **around(d, p),
                }
            )
    with open(out / "peaks.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["head"], r["place"])].append(r)
    print(
        "| head | place | peaks | level dip dB | flux | pitch ptp cents | voiced prob |\n|---|---|---|---|---|---|---|"
    )
    for (head, where), rs in sorted(groups.items()):
        med = {k: float(np.median([r[k] for r in rs])) for k in ("dip_db", "flux", "cents_ptp", "voiced")}
        print(
            f"| {head} | {where} | {len(rs)} | {med['dip_db']:.1f} | {med['flux']:.3f} | {med['cents_ptp']:.0f} "
            f"| {med['voiced']:.2f} |"
        )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
