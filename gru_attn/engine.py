"""The training loop: fit, validate, early stopping, checkpoints, run directory.

Plain Python (no Hydra): :mod:`gru_attn.train` builds the objects from the config
and calls :func:`fit`. One epoch visits every training frame once, in contiguous
chunks, so every frame is encoded once per epoch (see :mod:`gru_attn.windows`).

The run directory (``out_dir``) receives, updated after every epoch:

- ``metrics.json``: status, per-epoch ``history``, and a ``summary`` (parameter count,
  device, wall time, best epoch and value, final metrics, and ``initial``: the
  validation metrics before this process's first step -- of the untrained model, or
  of the resumed one -- which also check ``optimized_metric`` up front);
- ``checkpoints/``: ``best.pt``
  (best ``optimized_metric``), ``last.pt`` (latest epoch, for resuming), and
  ``final.pt`` (the end of training, also when stopped early), and ``epoch_NNN.pt``
  every ``checkpoint_every`` epochs when that is > 0 (default 0: none);
- ``training_curves.png``: loss, frame accuracy and note F1 per epoch.

The engine reads no audio and no config: :mod:`gru_attn.train` hands it the ready
training chunks (:func:`training_set`), what validation needs (:class:`ValidationSet`,
its pitch built on the data side by :mod:`gru_attn.tracked_pitch`), the loop's settings
and where the run reports (:class:`RunSpec`).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from gru_attn.checkpoint import load_checkpoint, load_weights, rng_state, save_checkpoint, set_rng_state
from gru_attn.contract import model_pitch_contours, split_logits
from gru_attn.decode import build_decoder, decoder_inputs, with_level
from gru_attn.devices import autocast_dtype, resolve_device
from gru_attn.errors import InputError
from gru_attn.files import write_json
from gru_attn.metrics import FrameMetricAccumulator, aggregate_note_metrics, frame_pitch_scores, note_metrics
from gru_attn.model import num_parameters, predict_song
from gru_attn.plots import plot_training_curves
from gru_attn.windows import ChunkDataset

log = logging.getLogger(__name__)


@dataclass
class TrainerSettings:
    """Settings of the loop: the fields of ``conf/trainer/default.yaml``, whose values are the
    defaults (``tests/test_train.py`` pins them). ``threads`` is applied by the entry point
    (:mod:`gru_attn.train`), never by the loop."""

    max_epochs: int = 2
    device: str = "auto"
    amp: bool = True
    grad_clip: float | None = 1.0
    early_stopping_patience: int | None = 3
    checkpoint_every: int = 0
    max_minutes: float | None = None
    limit_train_batches: int | None = None
    segment_frames: int | None = None
    resume: str | None = None
    threads: int | None = None
    frame_step: int = 4


@dataclass
class TrainingSet:
    """The training side: ``chunks`` (every training frame once per epoch) and ``batch_size`` chunks per step."""

    chunks: ChunkDataset
    batch_size: int


@dataclass
class ValidationSet:
    """What validation needs: the songs, the note decoding and the pitch notes are decoded with
    (None: true f0; else a callable song -> (T,) Hz, or None for the model's pitch head; see :func:`validate`),
    and the audio level the decoder may read (None, or a callable song -> (T,) dB or None)."""

    songs: list
    decode: Any  # a note decoder (gru_attn.decode): called on a song's frame outputs
    pitch: Any = None
    level: Any = None


@dataclass
class RunSpec:
    """Where a run reports and what it optimises.

    ``checkpoint_info`` (model config, feature layout, resolved config, pitch method) is
    stored opaquely in every checkpoint so that inference needs nothing else;
    ``on_epoch_end(epoch, metrics)`` may raise :class:`Pruned`; ``logger`` (see
    :mod:`gru_attn.loggers`) gets every step's loss and every epoch's metrics and
    curves (the caller closes it).
    """

    out_dir: Path
    optimized_metric: str
    direction: str = "maximize"
    checkpoint_info: dict = field(default_factory=dict)
    on_epoch_end: Callable[[int, dict], None] | None = None
    logger: Any = None

    @property
    def ckpt_dir(self) -> Path:
        return Path(self.out_dir) / "checkpoints"


@dataclass
class Parts:
    """The objects every step works with, built once by :func:`fit`."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    loss_fn: Callable
    device: torch.device
    amp_dtype: torch.dtype | None
    frame_step: int


@dataclass
class RunState:
    """What changes from epoch to epoch (and what resuming restores)."""

    summary: dict = field(default_factory=dict)  # metrics.json's summary
    history: list = field(default_factory=list)  # per-epoch metrics
    epoch: int = 0  # epochs completed
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the best one
    wall_before: float = 0.0  # training seconds of earlier processes (resumed runs)
    started: float = field(default_factory=time.time)
    curves_drawn: float = field(default_factory=time.time)  # when training_curves.png was last drawn

    def wall(self) -> float:
        """Training wall time so far, s (earlier processes included)."""
        return self.wall_before + time.time() - self.started


class TrainingFailed(RuntimeError):
    """The run cannot go on (NaN loss, out of memory); the message says why."""


class Pruned(RuntimeError):
    """A sweeper's pruner stopped this run early."""


def is_better(value: float, best: float | None, direction: str) -> bool:
    """Whether ``value`` improves on ``best`` for ``direction`` (maximize / minimize)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if direction == "maximize" else value < best


def worst_value(direction: str) -> float:
    """The value a failed run reports: -inf when maximizing, +inf when minimizing."""
    return -math.inf if direction == "maximize" else math.inf


@torch.no_grad()
def validate(
    model, songs, loss_fn, decode_params, device, segment_frames: int | None = None, pitch=None, level=None
) -> dict:
    """Validation metrics over ``songs`` (frame-shared inference per whole song).

    ``decode_params``: the note decoder (see :mod:`gru_attn.decode`), or its config.

    ``val/loss`` is against the targets the loss trains on (:func:`training_targets`); the
    frame scores against the song's own targets.
    ``pitch`` is what inference will decode note pitches with (:func:`gru_attn.tracked_pitch.validation_pitch`):
    None (the song's true f0) or a callable ``song -> (T,) Hz`` (an audio tracker) that
    may return None for a song: decode with the model's own pitch head. ``level``: None or a
    callable ``song -> (T,) dB or None`` (:func:`gru_attn.tracked_pitch.validation_level`), the
    audio level given to decoders that take it (:func:`gru_attn.decode.with_level`). Returns ``val/loss`` (mean over frames),
    per-pair frame accuracy, onset/offset frame F1, the mean over songs of the
    note-level COn / COnP / COnPOff scores decoded with that pitch, the same decoded
    with the true f0 as ``val/oracle_*``, and with a pitch head the frame pitch scores
    ``val/pitch_RPA``, ``val/pitch_RCA``, ``val/pitch_recall``, ``val/pitch_FA`` of the
    head against the true f0 (frames pooled over songs).
    """
    decoder = build_decoder(decode_params)
    frames = FrameMetricAccumulator()
    per_song, oracle, loss_sum, n_frames = [], [], 0.0, 0
    head_f0, truth_f0 = [], []
    for song in songs:
        logits = predict_song(model, song.feats, segment_frames=segment_frames, device=device)
        targets = torch.from_numpy(training_targets(loss_fn, song.targets).astype(np.int64))[None]
        mask = torch.ones(targets.shape[:2], dtype=torch.bool)
        true_f0 = np.asarray(song.pitch, dtype=np.float64)
        loss, _ = loss_fn(
            torch.from_numpy(logits)[None], targets, mask, pitch=torch.from_numpy(true_f0.astype(np.float32))[None]
        )
        loss_sum += float(loss) * len(song.targets)
        n_frames += len(song.targets)
        song_f0 = true_f0 if pitch is None else pitch(song)  # None: the model's pitch head
        if song_f0 is None and not getattr(model, "has_pitch_head", False):
            raise InputError("pitch_method=model needs a model with a pitch head (model.pitch_head=true)")
        inputs = with_level(decoder, decoder_inputs(logits, song_f0), None if level is None else level(song))
        frames.update(inputs["probs"], song.targets)
        if split_logits(logits)[1] is not None:  # a pitch head
            head_f0.append(model_pitch_contours(logits)[0] if song_f0 is not None else inputs["pitch_hz"])
            truth_f0.append(true_f0)
        per_song.append(note_metrics(song.notes, decoder(**inputs)))
        oracle.append(note_metrics(song.notes, decoder(**{**inputs, "pitch_hz": true_f0, "fallback_hz": None})))
    out = {"val/loss": loss_sum / max(n_frames, 1)}
    out.update({f"val/{k}": v for k, v in frames.compute().items()})
    out.update({f"val/{k}": v for k, v in aggregate_note_metrics(per_song).items()})
    out.update({f"val/oracle_{k}": v for k, v in aggregate_note_metrics(oracle).items()})
    if head_f0:
        scores = frame_pitch_scores(np.concatenate(head_f0), np.concatenate(truth_f0))
        out.update({f"val/pitch_{k}": v for k, v in scores.items()})
    return out


def training_targets(loss_fn, targets: np.ndarray) -> np.ndarray:
    """A song's (T, 3) targets as ``loss_fn`` trains on them (its ``training_targets``, when it has one)."""
    method = getattr(loss_fn, "training_targets", None)
    return method(targets) if method is not None else targets


def check_frame_step(value, model) -> int:
    """``trainer.frame_step`` as an int >= 1 (InputError unless it is one); 1, with a warning,
    when ``model.forward`` takes no ``frame_step`` (see :mod:`gru_attn.contract`): such a
    model classifies every frame anyway, so every frame trains."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"trainer.frame_step={value!r} must be an integer >= 1")
    if value > 1 and "frame_step" not in inspect.signature(model.forward).parameters:
        log.warning(
            "trainer.frame_step=%d: %s.forward takes no frame_step argument; training on every frame",
            value,
            type(model).__name__,
        )
        return 1
    return int(value)


def every_nth_frame(feats, targets, mask, pitch, frame_step: int):
    """A training batch cut to target frames ``p, p + s, ...`` of every chunk (``s = frame_step``,
    one random phase ``p`` in ``[0, s)`` per batch): feats (B, C, F, L + 2k) from frame ``p`` on
    (what ``model(feats, frame_step=s)`` classifies), targets (B, L, 3), mask (B, L) and pitch
    (B, L) or None every s-th frame from ``p``."""
    phase = int(torch.randint(frame_step, ()))
    return (
        feats[..., phase:],
        targets[:, phase::frame_step],
        mask[:, phase::frame_step],
        None if pitch is None else pitch[:, phase::frame_step],
    )


def check_metric_name(name: str, val_metrics: dict) -> None:
    """InputError unless ``name`` is a key of ``val_metrics`` (what :func:`validate` returns) or a
    ``train/`` metric; called before the first step with the untrained model's metrics."""
    if name not in val_metrics and not name.startswith("train/"):
        raise InputError(f"optimized_metric={name!r} is not a validation metric; choose one of {sorted(val_metrics)}")


def training_set(
    songs: list, model, loss_fn, *, batch_size: int, chunk_frames: int, seed: int, augment: dict | None = None
) -> TrainingSet:
    """The training chunks of ``songs`` for ``model`` (its ``context``; with a pitch head, the true
    f0 too) with the targets ``loss_fn`` trains on. ``augment``: ``{"pitch_shift_bins": [lo, hi]}``
    (see :class:`gru_attn.windows.ChunkDataset`)."""
    with_pitch = getattr(model, "has_pitch_head", False)
    chunks = ChunkDataset(
        [(s.feats, training_targets(loss_fn, s.targets)) + ((s.pitch,) if with_pitch else ()) for s in songs],
        chunk_frames=chunk_frames,
        context=int(getattr(model, "context", 9)),
        seed=seed,
        pitch_shift_bins=(augment or {}).get("pitch_shift_bins"),
    )
    return TrainingSet(chunks, int(batch_size))


def fit(
    model: torch.nn.Module,
    train: TrainingSet,
    val: ValidationSet,
    loss_fn: Callable,
    make_optimizer: Callable,
    make_scheduler: Callable | None,
    settings: TrainerSettings,
    run: RunSpec,
) -> dict:
    """Train ``model``; returns the summary also stored in ``metrics.json``.

    Raises :class:`TrainingFailed` on a NaN/inf loss or out-of-memory, and re-raises
    :class:`Pruned`, after recording the reason in ``metrics.json``.
    """
    # the run directory; the device, optimizer, scheduler and precision every step works with
    run.ckpt_dir.mkdir(parents=True, exist_ok=True)
    parts = setup(model, loss_fn, make_optimizer, make_scheduler, settings, train, val)
    # continue from a checkpoint (trainer.resume), or start fresh
    state = resume(parts, settings.resume, run.ckpt_dir)
    # the metrics before this process's first step; they also check optimized_metric up front
    initial = validate(
        model, val.songs, loss_fn, val.decode, parts.device, settings.segment_frames, pitch=val.pitch, level=val.level
    )
    check_metric_name(run.optimized_metric, initial)
    state.summary = {
        "status": "running",
        "parameters": num_parameters(model),
        "device": str(parts.device),
        "precision": precision_name(parts.amp_dtype),
        "optimized_metric": run.optimized_metric,
        "direction": run.direction,
        "initial": initial,
    }
    state.started = time.time()  # wall time counts training, not the set-up above
    try:
        for epoch in range(state.epoch, settings.max_epochs):
            # one pass over every training frame
            metrics = train_epoch(parts, train, settings, epoch, run.logger)
            # validate, keep the best, step the lr schedule, save checkpoints, write metrics.json, log
            end_epoch(parts, val, settings, run, state, metrics)
            # pruned by a sweeper (raises Pruned), out of patience or out of time
            if run.on_epoch_end is not None:
                run.on_epoch_end(epoch + 1, metrics)
            if should_stop(settings, state, run.optimized_metric):
                break
    except Pruned as exc:
        save(parts, val, run, state, "final")
        record(run, state, "pruned", str(exc), log_curves=True)
        raise
    except TrainingFailed as exc:
        record(run, state, "failed", str(exc), log_curves=True)
        raise
    except torch.cuda.OutOfMemoryError as exc:
        reason = f"out of memory: {str(exc).splitlines()[0]}"
        record(run, state, "failed", reason, log_curves=True)
        raise TrainingFailed(reason) from None
    # the end of training, also when stopped early
    save(parts, val, run, state, "final")
    return record(run, state, "completed", log_curves=True)


def precision_name(amp_dtype: torch.dtype | None) -> str:
    """``"bfloat16"``, ``"float16"`` (autocast) or ``"float32"``."""
    return str(amp_dtype or torch.float32).removeprefix("torch.")


def setup(
    model, loss_fn, make_optimizer, make_scheduler, settings: TrainerSettings, train: TrainingSet, val: ValidationSet
) -> Parts:
    """Move ``model`` to ``trainer.device`` and build its optimizer, scheduler and gradient scaler."""
    device = resolve_device(settings.device, option="trainer.device")
    model.to(device)
    optimizer = make_optimizer(model.parameters())
    scheduler = None
    if make_scheduler is not None:
        # a schedule set after every step (gru_attn.schedules) is told how many steps an epoch has
        per_batch = is_per_batch(getattr(make_scheduler, "func", None))
        kwargs = {"steps_per_epoch": len(epoch_batches(train, settings, 0))} if per_batch else {}
        scheduler = make_scheduler(optimizer, **kwargs)
    amp_dtype = autocast_dtype(device, bool(settings.amp))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    parts = Parts(
        model, optimizer, scheduler, scaler, loss_fn, device, amp_dtype, check_frame_step(settings.frame_step, model)
    )
    log.info(
        "model: %s parameters; device %s (%s); %d train / %d val songs; %d train frames",
        f"{num_parameters(model):,}",
        device,
        precision_name(amp_dtype) + (" autocast" if amp_dtype is not None else ""),
        len(train.chunks.targets),
        len(val.songs),
        sum(len(t) for t in train.chunks.targets),
    )
    return parts


def resume(parts: Parts, resume_from: str | None, ckpt_dir: Path) -> RunState:
    """A fresh :class:`RunState`, or the one of checkpoint ``resume_from`` (``"auto"``:
    ``ckpt_dir/last.pt`` when it exists) with the weights, optimizer, scheduler and RNG state
    loaded into ``parts``. A cosine or per-step schedule keeps the checkpoint's length (logged
    when the config's differs)."""
    if not resume_from:
        return RunState()
    path = ckpt_dir / "last.pt" if resume_from == "auto" else Path(resume_from)
    if resume_from == "auto" and not path.exists():
        log.info("trainer.resume=auto: no %s yet, starting fresh", path)
        return RunState()
    saved = load_checkpoint(path, map_location=parts.device)
    if "optimizer" not in saved:
        raise InputError(f"{path}: checkpoint has no optimizer state; cannot resume from it")
    load_weights(parts.model, saved["model"], path)
    parts.optimizer.load_state_dict(saved["optimizer"])
    scheduler = parts.scheduler
    if scheduler is not None and saved.get("scheduler") is not None:
        attr, unit = ("total_steps", "steps") if is_per_batch(scheduler) else ("T_max", "epochs")
        length = getattr(scheduler, attr, None)
        scheduler.load_state_dict(saved["scheduler"])
        if length is not None and getattr(scheduler, attr, None) != length:
            log.warning(
                "%s: its lr schedule spans %s %s, the config %s; the checkpoint's schedule continues",
                path,
                getattr(scheduler, attr),
                unit,
                length,
            )
    set_rng_state(saved["rng"])
    epoch, best = int(saved["epoch"]), saved["best"]
    log.info("resumed from %s after epoch %d", path, epoch)
    return RunState(
        history=list(saved["history"]),
        epoch=epoch,
        best_value=best["value"],
        best_epoch=best["epoch"],
        bad_epochs=epoch - (best["epoch"] or 0),
        wall_before=float(saved.get("wall_time_s", 0.0)),
    )


def is_per_batch(scheduler) -> bool:
    """Whether ``scheduler`` is stepped after every batch (``per_batch``, :mod:`gru_attn.schedules`)
    rather than once per epoch (torch's schedulers)."""
    return bool(getattr(scheduler, "per_batch", False))


def epoch_batches(train: TrainingSet, settings: TrainerSettings, epoch: int):
    """The batches of 0-based ``epoch`` (lazy), at most ``trainer.limit_train_batches`` of them."""
    batches = train.chunks.epoch_batches(epoch, train.batch_size)
    return batches[: int(settings.limit_train_batches)] if settings.limit_train_batches else batches


def train_epoch(parts: Parts, train: TrainingSet, settings: TrainerSettings, epoch: int, logger=None) -> dict:
    """One optimisation pass over ``train`` (0-based ``epoch``); returns ``epoch`` (1-based), ``lr``
    and the frame-weighted mean ``train/<loss part>`` values. TrainingFailed on a non-finite loss."""
    model, optimizer, scaler, device, frame_step = (
        parts.model,
        parts.optimizer,
        parts.scaler,
        parts.device,
        parts.frame_step,
    )
    per_batch = is_per_batch(parts.scheduler)
    model.train()
    batches = epoch_batches(train, settings, epoch)
    sums, n_seen = {}, 0
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{settings.max_epochs}", leave=False, disable=None)
    for i, batch in enumerate(bar):
        feats, targets, mask = (t.to(device) for t in batch[:3])
        pitch = batch[3].to(device) if len(batch) > 3 else None
        kwargs = {}
        if frame_step > 1:
            feats, targets, mask, pitch = every_nth_frame(feats, targets, mask, pitch, frame_step)
            kwargs = {"frame_step": frame_step}
        with torch.autocast(device.type, dtype=parts.amp_dtype, enabled=parts.amp_dtype is not None):
            logits = model(feats, **kwargs)
        loss, loss_parts = parts.loss_fn(logits.float(), targets, mask, pitch=pitch)
        if not torch.isfinite(loss):
            raise TrainingFailed(f"non-finite loss ({float(loss)}) at epoch {epoch + 1}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if settings.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if per_batch:
            parts.scheduler.step()
        n = int(mask.sum())
        n_seen += n
        for k, v in {"loss": loss.detach(), **loss_parts}.items():
            sums[k] = sums.get(k, 0.0) + float(v) * n
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if logger is not None:
            logger.log_step(epoch * len(batches) + i, {"train/loss_step": loss.item()})
    metrics = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
    metrics.update({f"train/{k}": v / max(n_seen, 1) for k, v in sums.items()})
    return metrics


def end_epoch(
    parts: Parts, val: ValidationSet, settings: TrainerSettings, run: RunSpec, state: RunState, metrics: dict
) -> None:
    """Complete the epoch's ``metrics`` (from :func:`train_epoch`) with validation and wall time, update
    the best value and the lr schedule, save ``last.pt`` (and ``best.pt``, ``epoch_NNN.pt``),
    write ``metrics.json`` and the curves, and log the epoch."""
    parts.model.eval()
    metrics.update(
        validate(
            parts.model,
            val.songs,
            parts.loss_fn,
            val.decode,
            parts.device,
            settings.segment_frames,
            pitch=val.pitch,
            level=val.level,
        )
    )
    metrics["wall_time_s"] = round(state.wall(), 2)
    name, epoch = run.optimized_metric, metrics["epoch"]
    if name not in metrics:
        raise InputError(
            f"optimized_metric={name!r} is not a validation metric; "
            f"choose one of {sorted(k for k in metrics if k.startswith('val/'))}"
        )
    value = metrics[name]
    state.history.append(metrics)
    state.epoch = epoch
    improved = is_better(value, state.best_value, run.direction)
    if improved:
        state.best_value, state.best_epoch, state.bad_epochs = value, epoch, 0
    else:
        state.bad_epochs += 1
    if isinstance(parts.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        parts.scheduler.step(value)
    elif parts.scheduler is not None and not is_per_batch(parts.scheduler):
        parts.scheduler.step()
    log.info(
        "epoch %d/%d  train loss %.4f  val loss %.4f  COnP %.3f  COnPOff %.3f  COn %.3f  %s %.4f%s",
        epoch,
        settings.max_epochs,
        metrics.get("train/loss", float("nan")),
        metrics["val/loss"],
        metrics.get("val/COnP_f1", float("nan")),
        metrics.get("val/COnPOff_f1", float("nan")),
        metrics.get("val/COn_f1", float("nan")),
        name,
        value,
        "  (best)" if improved else "",
    )
    every = settings.checkpoint_every and epoch % settings.checkpoint_every == 0
    save(parts, val, run, state, "last", *(["best"] if improved else []), *([f"epoch_{epoch:03d}"] if every else []))
    drawn = state.curves_drawn
    record(run, state, "running")
    if run.logger is not None:
        run.logger.log_epoch(epoch, metrics, metrics["lr"])
        if state.curves_drawn != drawn:  # redrawn this epoch
            run.logger.log_figure("training_curves", Path(run.out_dir) / "training_curves.png")


def should_stop(settings: TrainerSettings, state: RunState, metric: str) -> bool:
    """Whether early stopping (``trainer.early_stopping_patience``) or ``trainer.max_minutes`` ends the run (logged)."""
    if settings.early_stopping_patience and state.bad_epochs >= settings.early_stopping_patience:
        log.info("early stopping: no improvement of %s for %d epochs", metric, state.bad_epochs)
        return True
    if settings.max_minutes and state.wall() > 60.0 * settings.max_minutes:
        log.info("stopping: trainer.max_minutes=%s reached", settings.max_minutes)
        return True
    return False


def save(parts: Parts, val: ValidationSet, run: RunSpec, state: RunState, *names: str) -> None:
    """Save the checkpoint after ``state.history``'s epochs as ``checkpoints/<name>.pt`` for each of
    ``names``: weights, optimizer, scheduler, RNG, history, best, decoding settings and
    ``run.checkpoint_info``."""
    saved = {
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
        "epoch": len(state.history),
        "history": state.history,
        "rng": rng_state(),
        "wall_time_s": state.wall(),
        "best": {"value": state.best_value, "epoch": state.best_epoch, "metric": run.optimized_metric},
        "decode": val.decode.as_dict(),
        **run.checkpoint_info,
    }
    for name in names:
        save_checkpoint(saved, run.ckpt_dir / f"{name}.pt")


CURVES_EVERY_S = 60.0  # while running, training_curves.png is redrawn at most this often (s)


def record(run: RunSpec, state: RunState, status: str, reason: str | None = None, log_curves: bool = False) -> dict:
    """Write ``metrics.json`` (summary with ``status``/``reason``, history) and ``training_curves.png``;
    returns the summary. While ``status`` is ``"running"`` the figure is redrawn only when
    :data:`CURVES_EVERY_S` have passed since the last drawing (each costs about a second on a
    CPU); at the end it always is, and ``log_curves`` then also hands it to ``run.logger``."""
    history = state.history
    state.summary.update(
        status=status,
        reason=reason,
        epochs=len(history),
        wall_time_s=round(state.wall(), 2),
        best_epoch=state.best_epoch,
        best_value=state.best_value,
        final=dict(history[-1]) if history else {},
    )
    write_json(Path(run.out_dir) / "metrics.json", {"summary": state.summary, "history": history})
    figure = Path(run.out_dir) / "training_curves.png"
    if history and (status != "running" or time.time() - state.curves_drawn >= CURVES_EVERY_S):
        plot_training_curves(history, figure)
        state.curves_drawn = time.time()
        if log_curves and run.logger is not None:
            run.logger.log_figure("training_curves", figure)
    return state.summary
