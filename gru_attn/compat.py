"""The seed guide's command line, translated into the same Hydra run.

``python train_gru_attention.py --model_type simplified_gru_attention --num_epochs 10
--batch_size 32`` becomes ``python -m gru_attn.train model=simplified
trainer.max_epochs=10 data.batch_size=32``. Each flag maps to one override
(README: "Seed guide mapping"); ``--print-overrides`` shows them without training.
"""

from __future__ import annotations

import argparse
import math
import sys

from gru_attn.errors import ArgumentParser

MODEL_TYPES = {"gru_attention": "gru_attention", "simplified_gru_attention": "simplified", "simplified": "simplified"}

# flag -> Hydra override key (value copied verbatim)
FLAG_TO_KEY = {
    "hidden_dim": "model.hidden_dim",
    "num_layers": "model.num_layers",
    "num_heads": "model.num_heads",
    "dropout": "model.dropout",
    "learning_rate": "optimizer.lr",
    "batch_size": "data.batch_size",
    "num_epochs": "trainer.max_epochs",
    "device": "trainer.device",
    "seed": "seed",
    "feat_dir": "data.feat_dir",
    "pitch_dir": "data.pitch_dir",
    "notes_dir": "data.notes_dir",
    "save_dir": "hydra.run.dir",
}


def _number(kind):
    """An argparse ``type`` that checks the flag is a (finite) ``kind`` number and keeps its text."""

    def check(text: str) -> str:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        return text

    return check


# flags whose value must be a number (checked here, so the error names the flag, not the Hydra key)
FLAG_TYPES = {
    "hidden_dim": int,
    "num_layers": int,
    "num_heads": int,
    "dropout": float,
    "learning_rate": float,
    "batch_size": int,
    "num_epochs": int,
    "seed": int,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="train_gru_attention.py", description="Seed-guide compatible front end of `python -m gru_attn.train`."
    )
    parser.add_argument("--model_type", choices=sorted(MODEL_TYPES), default=None)
    for flag in FLAG_TO_KEY:
        parser.add_argument(f"--{flag}", default=None, type=_number(FLAG_TYPES[flag]) if flag in FLAG_TYPES else None)
    parser.add_argument("--print-overrides", action="store_true", help="print the Hydra overrides and exit")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, passed through")
    return parser.parse_args(argv)


def to_overrides(args: argparse.Namespace) -> list[str]:
    """The Hydra overrides equivalent to the guide's flags."""
    overrides = []
    if args.model_type is not None:
        overrides.append(f"model={MODEL_TYPES[args.model_type]}")
    if args.feat_dir is not None or args.pitch_dir is not None:
        overrides.append("data=vocano")
    for flag, key in FLAG_TO_KEY.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    return overrides + list(args.overrides)


def main(argv: list[str] | None = None) -> None:
    """The entry point of ``train_gru_attention.py``: translate the flags, then run ``gru_attn.train``.

    Hydra's ``train.main`` reads its overrides from ``sys.argv`` only, so they are put
    there for the call and the previous ``sys.argv`` is restored afterwards.
    """
    args = parse_args(argv)
    overrides = to_overrides(args)
    if args.print_overrides:
        print(" ".join(overrides))
        return
    from gru_attn import train

    saved = sys.argv
    sys.argv = [saved[0], *overrides]
    try:
        train.main()  # Hydra's and the config's errors: one line, exit 2 (gru_attn.validation.run_hydra)
    finally:
        sys.argv = saved
