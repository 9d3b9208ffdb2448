"""Decode-only study: score a decoder config on cached frame outputs (a Hydra app the Optuna sweeper drives).

    python -m gru_attn.decode_cache --ckpt C --out outputs/decode_cache --val --crossgen DIR ...   # once
    python -m gru_attn.decode_study cache=outputs/decode_cache decode=segments [decode.note_cost=3]
    python -m gru_attn.decode_study --multirun hparams_search=decode_segments cache=...   # Optuna search

Each run decodes every cached song (:mod:`gru_attn.decode_cache`) with the configured
decoder (``conf/decode/<name>.yaml``; no model runs), scores it with mir_eval
(:func:`gru_attn.metrics.note_metrics`) and writes ``metrics.json`` to its run folder:
per set and per (set, condition) the macro mean over songs of COnPOff / COnP / COn
precision, recall and F1, the reference and estimated note counts, and the decode time
per minute of audio. The value returned (what the sweeper optimises) is
``objective``: the mean over the chosen ``sets`` of ``(COnP_f1 + COnPOff_f1) / 2``.
Exit status 0, or 2 for a bad option or cache.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gru_attn.config import CONF_DIR
from gru_attn.decode import build_decoder, decoder_inputs, with_level
from gru_attn.errors import InputError, print_error
from gru_attn.files import write_json
from gru_attn.frames import HOP_SECONDS
from gru_attn.metrics import aggregate_note_metrics, note_metrics
from gru_attn.notes import NoteList

log = logging.getLogger(__name__)
_LOADED: dict[str, list[dict]] = {}  # set folder -> its songs (a sweep runs its trials in one process)


def load_set(folder: Path) -> list[dict]:
    """The cached songs of one set folder: dicts with name, cond, ref (NoteList) and decoder inputs."""
    key = str(folder.resolve())
    if key not in _LOADED:
        songs = []
        for path in sorted(folder.glob("*.npz")):
            with np.load(path, allow_pickle=False) as data:
                pitch = data["pitch"] if "pitch" in data else None
                songs.append(
                    {
                        "name": path.stem,
                        "cond": str(data["cond"]),
                        "ref": NoteList.from_rows(data["ref"]),
                        "inputs": decoder_inputs(data["logits"], pitch),
                        "level": data["level"].astype(np.float64) if "level" in data else None,
                        "frames": len(data["logits"]),
                    }
                )
        if not songs:
            raise InputError(f"cache {folder}: no cached songs (*.npz)")
        _LOADED[key] = songs
    return _LOADED[key]


def score(decoder, sets: dict[str, list[dict]]) -> dict:
    """Decode and score every song of ``sets`` (name -> songs); metrics per set and per set/condition."""
    out, spent, frames = {}, 0.0, 0
    for set_name, songs in sets.items():
        rows = {}
        for song in songs:
            start = time.perf_counter()
            est = decoder(**with_level(decoder, song["inputs"], song["level"]))
            spent += time.perf_counter() - start
            frames += song["frames"]
            rows[song["name"]] = (song["cond"], note_metrics(song["ref"], est), len(song["ref"]), len(est))
        groups = {set_name: list(rows.values())}
        for cond in sorted({r[0] for r in rows.values()}):
            if len({r[0] for r in rows.values()}) > 1:
                groups[f"{set_name}/{cond}"] = [r for r in rows.values() if r[0] == cond]
        for key, members in groups.items():
            out[key] = {
                **aggregate_note_metrics([m[1] for m in members]),
                "songs": len(members),
                "ref_notes": sum(m[2] for m in members),
                "est_notes": sum(m[3] for m in members),
            }
    minutes = frames * HOP_SECONDS / 60.0
    return {"groups": out, "decode_seconds_per_minute": spent / max(minutes, 1e-9)}


def objective(groups: dict, sets) -> float:
    """Mean over ``sets`` of ``(COnP_f1 + COnPOff_f1) / 2``."""
    return float(np.mean([(groups[s]["COnP_f1"] + groups[s]["COnPOff_f1"]) / 2 for s in sets]))


def run(cfg: DictConfig) -> float:
    cache = Path(cfg.cache)
    if not cache.is_dir():
        raise InputError(f"cache={cache}: not a folder (python -m gru_attn.decode_cache writes one)")
    names = list(cfg.sets) if cfg.get("sets") else sorted(p.name for p in cache.iterdir() if p.is_dir())
    if not names:
        raise InputError(f"cache={cache}: no cached sets")
    sets = {}
    for name in names:
        if not (cache / name).is_dir():
            raise InputError(f"sets: {name!r} is not a cached set of {cache}")
        sets[name] = load_set(cache / name)
    decoder = build_decoder(cfg.decode, "decode")
    result = score(decoder, sets)
    value = objective(result["groups"], names)
    out_dir = Path(cfg.paths.output_dir)
    write_json(
        out_dir / "metrics.json",
        {
            "summary": {
                "status": "completed",
                "objective": value,
                "decode": decoder.as_dict(),
                "decode_seconds_per_minute": result["decode_seconds_per_minute"],
            },
            "groups": result["groups"],
            "history": [],
        },
    )
    for key, row in result["groups"].items():
        log.info(
            "%-28s COnPOff %.3f  COnP %.3f  COn %.3f  notes %d/%d",
            key,
            row["COnPOff_f1"],
            row["COnP_f1"],
            row["COn_f1"],
            row["est_notes"],
            row["ref_notes"],
        )
    log.info("objective %.4f; decode %.3f s per minute of audio", value, result["decode_seconds_per_minute"])
    return value


@hydra.main(config_path=str(CONF_DIR), config_name="decode_study")
def main(cfg: DictConfig) -> float:
    try:
        return run(cfg)
    except InputError as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # one bad point must not end a sweep
            log.error("run failed: %s", exc)
            out_dir = Path(cfg.paths.output_dir)
            write_json(out_dir / "metrics.json", {"summary": {"status": "failed", "reason": str(exc)}, "history": []})
            return 0.0
        print_error(exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
