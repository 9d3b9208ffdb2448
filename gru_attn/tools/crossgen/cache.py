"""The cross-generator set on disk: seeded, cached by its settings, fluidsynth version and soundfont."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from gru_attn.errors import InputError
from gru_attn.files import atomic_path, write_json
from gru_attn.frames import SAMPLE_RATE
from gru_attn.notes import write_notes
from gru_attn.tools.crossgen.calibrate import calibrate
from gru_attn.tools.crossgen.render import DEFAULT_SOUNDFONT, find_fluidsynth
from gru_attn.tools.crossgen.song import CONDITIONS, VOICE_PROGRAMS, render_song, song_name

FORMAT_VERSION = 1  # bump when the composer or renderer changes what a seed produces


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def generate(
    out: Path,
    *,
    songs: int = 8,
    seconds: float = 30.0,
    seed: int = 0,
    soundfont: Path = DEFAULT_SOUNDFONT,
    conditions=CONDITIONS,
    progress: bool = False,
) -> dict:
    """Generate (or reuse) the set under ``out``; returns its ``set.json`` content.

    A song is rendered unless its WAV, notes and meta files exist and ``set.json``
    records the same settings, fluidsynth version and soundfont.
    """
    if songs < 1:
        raise InputError(f"--songs {songs}: expected at least 1")
    if not 8.0 <= seconds <= 600.0:
        raise InputError(f"--seconds {seconds}: expected 8 to 600 s per song")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        raise InputError(f"--conditions {','.join(conditions)}: expected some of {','.join(CONDITIONS)}")
    _, version = find_fluidsynth(soundfont)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: not a folder")
    sf_stat = Path(soundfont).stat()
    settings = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "seconds": seconds,
        "fluidsynth": version,
        "soundfont": str(soundfont),
        "soundfont_bytes": sf_stat.st_size,
    }
    manifest_path = out / "set.json"
    old = {}
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            old = {}
    reuse = old.get("settings") == settings and isinstance(old.get("calibration"), dict)
    if reuse:
        calibration = {int(k): v for k, v in old["calibration"].items()}
        digest = old.get("soundfont_sha256")
    else:
        digest = _sha256(Path(soundfont))
    counts = dict(old.get("songs", {})) if reuse else {}
    if not reuse and manifest_path.is_file():  # a set of other settings: drop its songs
        for condition in CONDITIONS:
            for sub, ext in (("wav", "wav"), ("notes", "csv"), ("meta", "json")):
                for stale in (out / condition / sub).glob(f"{condition}_[0-9][0-9][0-9].{ext}"):
                    stale.unlink()
    with tempfile.TemporaryDirectory(prefix="gru_attn_crossgen_") as tmp:
        if not reuse:
            calibration = {p: calibrate(p, Path(soundfont), Path(tmp)) for p in VOICE_PROGRAMS}
        jobs = [(c, i) for c in conditions for i in range(songs)]
        for condition, index in tqdm(jobs, desc="crossgen", unit="song", disable=None if progress else True):
            name = song_name(condition, index)
            paths = [
                out / condition / sub / f"{name}.{ext}"
                for sub, ext in (("wav", "wav"), ("notes", "csv"), ("meta", "json"))
            ]
            if reuse and index < counts.get(condition, 0) and all(p.is_file() for p in paths):
                continue
            song = render_song(
                condition,
                index,
                seed=seed,
                seconds=seconds,
                soundfont=Path(soundfont),
                workdir=Path(tmp),
                calibration=calibration,
            )
            pcm = np.clip(np.rint(song["audio"] * 32767), -32768, 32767).astype(np.int16)
            with atomic_path(paths[0]) as wav_tmp:
                sf.write(str(wav_tmp), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            write_notes(song["notes"], paths[1])
            write_json(paths[2], song["meta"])
        for condition in conditions:
            counts[condition] = max(counts.get(condition, 0) if reuse else 0, songs)
    manifest = {
        "settings": settings,
        "soundfont_sha256": digest,
        "calibration": calibration,
        "songs": counts,
        "voices": VOICE_PROGRAMS,
    }
    write_json(manifest_path, manifest)
    return manifest
