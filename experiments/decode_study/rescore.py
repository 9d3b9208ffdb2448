"""Score the decoder configs of finished decode_study runs on another cache (e.g. a later checkpoint's).

    python experiments/decode_study/rescore.py --cache DIR RUN_DIR [RUN_DIR ...]

Prints the objective and COnP / COnPOff per set and condition for each run's decoder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gru_attn.decode import build_decoder
from gru_attn.decode_study import load_set, objective, score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    cache = Path(args.cache)
    sets = {p.name: load_set(p) for p in sorted(cache.iterdir()) if p.is_dir()}
    for run in args.runs:
        config = json.loads((Path(run) / "metrics.json").read_text())["summary"]["decode"]
        result = score(build_decoder(config), sets)
        groups = result["groups"]
        print(
            f"{run}: objective {objective(groups, list(sets)):.4f}  "
            + "  ".join(f"{k} {v['COnP_f1']:.3f}/{v['COnPOff_f1']:.3f}" for k, v in groups.items())
        )


if __name__ == "__main__":
    main()
