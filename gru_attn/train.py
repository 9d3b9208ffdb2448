"""``python -m gru_attn.train``: the Hydra entry point of training.

Composes ``conf/train.yaml`` (data, model, optimizer, scheduler, trainer, paths,
optional experiment / hparams_search), builds every object with the whitelisted
:func:`gru_attn.config.instantiate`, and hands :func:`gru_attn.engine.fit` only what the
loop needs: the model, the training chunks, the validation set (its pitch built here
from the corpus's audio), the loss, optimizer and scheduler partials, the trainer
settings and where the run reports. Global state (seeds, ``trainer.threads``) is set
here, never in the engine.
The task function returns the run's best ``optimized_metric`` (for sweepers); a
failed run (NaN loss, out of memory, bad input) records why in ``metrics.json``
(status ``failed``); inside a sweep it returns the worst value for
``optimized_direction``, alone it prints one ``error:`` line and exits with 2.
"""

from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gru_attn.config import CONF_DIR, instantiate  # importing it registers the configs' resolvers
from gru_attn.contract import check_model, model_class
from gru_attn.decode import build_decoder
from gru_attn.engine import (
    Pruned,
    RunSpec,
    TrainerSettings,
    TrainingFailed,
    ValidationSet,
    fit,
    training_set,
    worst_value,
)
from gru_attn.errors import InputError, print_error
from gru_attn.files import write_json
from gru_attn.frames import HOP_SECONDS, SAMPLE_RATE
from gru_attn.loggers import build_logger, finish, flat_params
from gru_attn.model import num_parameters
from gru_attn.sweep import epoch_callback, job_device
from gru_attn.tracked_pitch import validation_level, validation_pitch
from gru_attn.validation import run_hydra, validate_config

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# Config keys that moved: old key -> new key (a run that sets an old key stops with one line).
MOVED_KEYS = {
    "data.pitch_method": "inference.pitch_method",
    "trainer.inference_chunk_frames": "trainer.segment_frames",
}


def check_moved_keys(cfg: DictConfig) -> None:
    """InputError for a config that still sets a key listed in :data:`MOVED_KEYS`."""
    for old, new in MOVED_KEYS.items():
        if OmegaConf.select(cfg, old, default=None) is not None:
            raise InputError(f"{old}: this key moved to {new}; set {new} instead")


def build_model(model_cfg: DictConfig, n_channels: int, n_bins: int) -> tuple[torch.nn.Module, dict]:
    """Instantiate the model for the data's layout and check it against :mod:`gru_attn.contract`.

    Returns the model and its plain config (``_target_`` and constructor arguments,
    including ``n_channels`` / ``n_bins``), as checkpoints record it.
    """
    model_config = OmegaConf.to_container(model_cfg, resolve=True)
    model_config.update(n_channels=n_channels, n_bins=n_bins)
    model_class(model_config.get("_target_"), "model")  # refuse targets outside the package before building
    model = instantiate("model", model_config)
    check_model(model, f"model {model_config['_target_']}")
    return model, model_config


def check_optimizer(make_optimizer, model: torch.nn.Module) -> None:
    """Build the optimizer once on ``model``'s parameters: a bad value (``optimizer.lr=-1``,
    ``nan``) becomes one InputError before any step."""
    try:
        make_optimizer(model.parameters())
    except (ValueError, TypeError) as exc:
        raise InputError(f"optimizer: {exc}") from None


def build_optimizer(cfg: DictConfig, model: torch.nn.Module) -> tuple:
    """``(make_optimizer, make_scheduler)``: the partials of ``cfg.optimizer`` (checked once on
    ``model``) and ``cfg.scheduler`` (None without a ``_target_``)."""
    make_optimizer = instantiate("optimizer", cfg.optimizer)
    scheduler_cfg = cfg.get("scheduler")
    make_scheduler = None
    if scheduler_cfg is not None and scheduler_cfg.get("_target_") is not None:
        make_scheduler = instantiate("scheduler", scheduler_cfg)
    check_optimizer(make_optimizer, model)
    return make_optimizer, make_scheduler


def checkpoint_info(cfg: DictConfig, model: torch.nn.Module, model_config: dict) -> dict:
    """What every checkpoint stores besides the training state, so that inference needs nothing
    else: the model config, the feature layout, the pitch method and the resolved config."""
    return {
        "model_config": model_config,
        "feature_layout": {
            "n_channels": int(model_config["n_channels"]),
            "n_bins": int(model_config["n_bins"]),
            "context": int(model.context),
            "hop_seconds": HOP_SECONDS,
            "sample_rate": SAMPLE_RATE,
        },
        "pitch_method": cfg.inference.pitch_method,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def train(cfg: DictConfig) -> float:
    """Train one run as configured; returns the best ``optimized_metric``."""
    validate_config(cfg)  # types and ranges of every setting, before any work (gru_attn.validation)
    out_dir = Path(cfg.paths.output_dir)
    direction = cfg.optimized_direction
    if direction not in ("maximize", "minimize"):
        raise InputError(f"optimized_direction={direction!r}: expected maximize or minimize")
    check_moved_keys(cfg)
    if int(cfg.trainer.max_epochs) < 1:
        raise InputError(
            f"trainer.max_epochs={cfg.trainer.max_epochs}: must be at least 1 "
            "(a run of 0 epochs would save an untrained model)"
        )
    seed_everything(int(cfg.seed))
    if cfg.trainer.get("threads"):
        torch.set_num_threads(int(cfg.trainer.threads))  # global state: set here, never in the engine

    # the data: songs by split (and, for a Corpus, where their audio is)
    corpus = instantiate("data.corpus", cfg.data.corpus)
    train_songs, val_songs = corpus["train"], corpus["val"]
    if not train_songs or not val_songs:
        raise InputError(f"data: need at least one train and one val song (got {len(train_songs)} / {len(val_songs)})")
    n_channels, n_bins, _ = train_songs[0].feats.shape

    # the model for the data's layout, its optimizer and lr schedule, the loss
    model, model_config = build_model(cfg.model, n_channels, n_bins)
    print(f"model {model_config['_target_']}: {num_parameters(model):,} trainable parameters")
    make_optimizer, make_scheduler = build_optimizer(cfg, model)
    loss_fn = instantiate("loss", cfg.loss)

    # what the loop gets: the training chunks, the validation set, its settings, where it reports
    augment = OmegaConf.to_container(cfg.data.augment, resolve=True) if cfg.data.get("augment") else None
    train_set = training_set(
        train_songs,
        model,
        loss_fn,
        batch_size=int(cfg.data.batch_size),
        chunk_frames=int(cfg.data.chunk_frames),
        seed=int(cfg.seed),
        augment=augment,
    )
    # validation decodes note pitches as inference will: the pitch head, or a tracker on the corpus's audio
    wav_dir = getattr(corpus, "wav_dir", None)
    val_pitch = validation_pitch(cfg.inference.pitch_method, wav_dir)
    val_decoder = build_decoder(cfg.decode, "decode")
    # ... and with the audio level, when the decoder reads one (decode=segments' level-dip term)
    val_set = ValidationSet(val_songs, val_decoder, val_pitch, validation_level(val_decoder, wav_dir))
    settings = TrainerSettings(**cfg.trainer)
    settings.device = job_device(settings.device)  # sweeps: one job per GPU
    logger = build_logger(cfg.get("logger"))  # live logs (conf/logger); closed with the final metrics
    spec = RunSpec(
        out_dir,
        cfg.optimized_metric,
        direction,
        checkpoint_info(cfg, model, model_config),
        on_epoch_end=epoch_callback(cfg),  # sweeps: report to / get pruned by the Optuna study
        logger=logger,
    )
    try:
        summary = fit(model, train_set, val_set, loss_fn, make_optimizer, make_scheduler, settings, spec)
    finally:
        finish(logger, flat_params(cfg), out_dir / "metrics.json")
    best = summary["best_value"]
    log.info(
        "done: best %s = %s at epoch %s; run directory %s", cfg.optimized_metric, best, summary["best_epoch"], out_dir
    )
    return float(best) if best is not None else worst_value(direction)


def record_failure(out_dir: Path, reason: str, direction: str) -> float:
    """Write a ``failed`` metrics.json (unless the loop already did) and return the worst value."""
    metrics = out_dir / "metrics.json"
    if not metrics.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(metrics, {"summary": {"status": "failed", "reason": reason}, "history": []})
    return worst_value(direction)


@hydra.main(config_path=str(CONF_DIR), config_name="train")
def run(cfg: DictConfig) -> float:
    """The task function: :func:`train`, with a failed run recorded (``metrics.json``) and, alone,
    one ``error:`` line and exit status 2; in a sweep it returns the worst value instead."""
    try:
        return train(cfg)
    except Pruned as exc:  # sweeps: the study's pruner stopped it; metrics.json says "pruned"
        log.info("run pruned: %s", exc)
        return worst_value(cfg.optimized_direction)
    except (TrainingFailed, InputError) as exc:
        worst = record_failure(Path(cfg.paths.output_dir), str(exc), cfg.optimized_direction)
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # one bad point must not end a sweep
            log.error("run failed: %s", exc)
            return worst
        print_error(exc if isinstance(exc, InputError) else f"{cfg.paths.output_dir}: run failed: {exc}")
        sys.exit(2)


def main() -> float | None:
    """``python -m gru_attn.train [overrides]``: Hydra's own errors (unknown key, unknown option,
    malformed override) are one ``error:`` line too, exit status 2 (:func:`gru_attn.validation.run_hydra`)."""
    return run_hydra(run)


if __name__ == "__main__":
    main()
