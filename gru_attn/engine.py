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
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from gru_attn.audio import load_audio
from gru_attn.checkpoint import load_checkpoint, load_weights, rng_state, save_checkpoint, set_rng_state
from gru_attn.decode import build_decoder, decoder_inputs, model_pitch_contours
from gru_attn.devices import autocast_dtype, resolve_device
from gru_attn.errors import InputError
from gru_attn.files import save_npy, write_json
from gru_attn.metrics import FrameMetricAccumulator, aggregate_note_metrics, note_metrics
from gru_attn.model import num_parameters, predict_song
from gru_attn.pitch import INFERENCE_METHODS, MODEL_METHOD, frame_pitch_scores, track_pitch
from gru_attn.plots import plot_training_curves
from gru_attn.windows import ChunkDataset

log = logging.getLogger(__name__)


@dataclass
class TrainerSettings:
    """Settings of the loop (``conf/trainer/*.yaml``)."""

    max_epochs: int = 6
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
    frame_step: int = 1


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


class TrackerPitch:
    """Validation pitch of an audio tracker: ``pitch(song)`` -> (T,) Hz for ``song.name``.

    Reads ``<wav_dir>/<song>.wav``, tracks it with ``method`` once and caches the
    contour as ``<cache_dir>/<song>_pitch.npy`` (atomic write); the contour is trimmed
    or zero-padded to the song's frames. Without ``wav_dir`` (e.g. a VOCANO-layout
    corpus, whose pitch files are a tracker's output of the audio) it returns the
    song's own pitch contour.
    """

    def __init__(self, method: str, wav_dir=None, cache_dir=None):
        self.method = method
        self.wav_dir = Path(wav_dir) if wav_dir is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def __call__(self, song) -> np.ndarray:
        if self.wav_dir is None:
            return np.asarray(song.pitch, dtype=np.float64)
        cached = self.cache_dir / f"{song.name}_pitch.npy" if self.cache_dir is not None else None
        if cached is not None and cached.is_file():
            pitch = np.load(cached, allow_pickle=False)
        else:
            pitch = track_pitch(load_audio(self.wav_dir / f"{song.name}.wav"), self.method)
            if cached is not None:
                save_npy(cached, pitch)
        n = song.n_frames
        return np.pad(pitch[:n], (0, max(0, n - len(pitch))))


def validation_pitch(method: str | None, config: dict | None):
    """What :func:`validate` decodes with for the checkpoint's ``method``: ``"model"`` (the
    model's pitch head), a :class:`TrackerPitch`, or None (the corpus's true f0: no method).

    The synthetic corpus' audio is ``<corpus>/wav`` and tracked contours are cached in
    ``<corpus>/pitch_<method>/``; a VOCANO-layout corpus uses ``data.wav_dir`` when set
    (cache ``<wav_dir>/../pitch_<method>``), else its own pitch files (logged).
    """
    if method is None:
        return None
    if method not in INFERENCE_METHODS:
        raise InputError(f"inference.pitch_method={method!r}: expected one of {', '.join(INFERENCE_METHODS)}")
    if method == MODEL_METHOD:
        return MODEL_METHOD
    data = (config or {}).get("data") or {}
    corpus = data.get("corpus") or {}
    wav_dir = data.get("wav_dir")
    if wav_dir is None and str(corpus.get("_target_", "")).endswith("load_synthetic_corpus"):
        import inspect

        from gru_attn.synth import ensure_corpus

        names = inspect.signature(ensure_corpus).parameters
        root = ensure_corpus(**{k: v for k, v in corpus.items() if k in names and k != "progress"}, progress=False)
        wav_dir = root / "wav"
    if wav_dir is None:
        log.info("validation pitch: no audio for the %s tracker (set data.wav_dir); decoding with the corpus's "
                 "pitch files", method)
        return TrackerPitch(method)
    wav_dir = Path(wav_dir)
    return TrackerPitch(method, wav_dir, wav_dir.parent / f"pitch_{method}")


@torch.no_grad()
def validate(model, songs, loss_fn, decode_params, device, segment_frames: int | None = None,
             pitch=None) -> dict:
    """Validation metrics over ``songs`` (frame-shared inference per whole song).

    ``decode_params``: the note decoder (see :mod:`gru_attn.decode`), or its config.

    ``val/loss`` is against the targets the loss trains on (:func:`training_targets`); the
    frame scores against the song's own targets.
    ``pitch`` is what inference will decode note pitches with (see :func:`validation_pitch`):
    ``"model"`` (the model's pitch head), a callable ``song -> (T,) Hz`` (an audio
    tracker), or None (the song's true f0). Returns ``val/loss`` (mean over frames),
    per-pair frame accuracy, onset/offset frame F1, the mean over songs of the
    note-level COn / COnP / COnPOff scores decoded with that pitch, the same decoded
    with the true f0 as ``val/oracle_*``, and with a pitch head the frame pitch scores
    ``val/pitch_RPA``, ``val/pitch_RCA``, ``val/pitch_recall``, ``val/pitch_FA`` of the
    head against the true f0 (frames pooled over songs).
    """
    if pitch == MODEL_METHOD and not getattr(model, "has_pitch_head", False):
        raise InputError("pitch_method=model needs a model with a pitch head (model.pitch_head=true)")
    decoder = build_decoder(decode_params)
    frames = FrameMetricAccumulator()
    per_song, oracle, loss_sum, n_frames = [], [], 0.0, 0
    head_f0, truth_f0 = [], []
    for song in songs:
        logits = predict_song(model, song.feats, segment_frames=segment_frames, device=device)
        targets = torch.from_numpy(training_targets(loss_fn, song.targets).astype(np.int64))[None]
        mask = torch.ones(targets.shape[:2], dtype=torch.bool)
        true_f0 = np.asarray(song.pitch, dtype=np.float64)
        loss, _ = loss_fn(torch.from_numpy(logits)[None], targets, mask,
                          pitch=torch.from_numpy(true_f0.astype(np.float32))[None])
        loss_sum += float(loss) * len(song.targets)
        n_frames += len(song.targets)
        inputs = decoder_inputs(logits, None if pitch == MODEL_METHOD
                                else (pitch(song) if callable(pitch) else true_f0))
        frames.update(inputs["probs"], song.targets)
        if logits.shape[-1] > 6:
            head_f0.append(model_pitch_contours(logits)[0] if pitch != MODEL_METHOD else inputs["pitch_hz"])
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
        log.warning("trainer.frame_step=%d: %s.forward takes no frame_step argument; training on every frame",
                    value, type(model).__name__)
        return 1
    return int(value)


def every_nth_frame(feats, targets, mask, pitch, frame_step: int):
    """A training batch cut to target frames ``p, p + s, ...`` of every chunk (``s = frame_step``,
    one random phase ``p`` in ``[0, s)`` per batch): feats (B, C, F, L + 2k) from frame ``p`` on
    (what ``model(feats, frame_step=s)`` classifies), targets (B, L, 3), mask (B, L) and pitch
    (B, L) or None every s-th frame from ``p``."""
    phase = int(torch.randint(frame_step, ()))
    return (feats[..., phase:], targets[:, phase::frame_step], mask[:, phase::frame_step],
            None if pitch is None else pitch[:, phase::frame_step])


def check_metric_name(name: str, val_metrics: dict) -> None:
    """InputError unless ``name`` is a key of ``val_metrics`` (what :func:`validate` returns) or a
    ``train/`` metric; called before the first step with the untrained model's metrics."""
    if name not in val_metrics and not name.startswith("train/"):
        raise InputError(f"optimized_metric={name!r} is not a validation metric; choose one of {sorted(val_metrics)}")


def fit(
    model: torch.nn.Module,
    train_songs: list,
    val_songs: list,
    make_optimizer: Callable,
    make_scheduler: Callable | None,
    loss_fn: Callable,
    decode_params,
    settings: TrainerSettings,
    out_dir: str | os.PathLike,
    *,
    batch_size: int,
    chunk_frames: int,
    seed: int,
    optimized_metric: str,
    direction: str = "maximize",
    checkpoint_info: dict | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    augment: dict | None = None,
    logger=None,
) -> dict:
    """Train ``model``; returns the summary also stored in ``metrics.json``.

    ``checkpoint_info`` (model config, feature layout, resolved config, pitch method)
    is stored in every checkpoint so that inference needs nothing else; its
    ``pitch_method`` also decides the pitch validation decodes with
    (:func:`validation_pitch`). ``augment``: ``{"pitch_shift_bins": [lo, hi]}`` (see
    :class:`gru_attn.windows.ChunkDataset`).
    ``on_epoch_end(epoch, metrics)`` may raise :class:`Pruned` to stop the run.
    ``logger`` (see :mod:`gru_attn.loggers`) gets every step's loss and every epoch's
    metrics and curves; the caller closes it.
    Raises :class:`TrainingFailed` on a NaN/inf loss or out-of-memory, after
    recording the reason in ``metrics.json``.
    """
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    device = resolve_device(settings.device, option="trainer.device")
    model.to(device)
    optimizer = make_optimizer(model.parameters())
    scheduler = make_scheduler(optimizer) if make_scheduler is not None else None
    amp_dtype = autocast_dtype(device, bool(settings.amp))
    precision = str(amp_dtype or torch.float32).removeprefix("torch.")
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    frame_step = check_frame_step(settings.frame_step, model)
    context = int(getattr(model, "context", 9))
    with_pitch = getattr(model, "has_pitch_head", False)
    dataset = ChunkDataset([(s.feats, training_targets(loss_fn, s.targets)) + ((s.pitch,) if with_pitch else ())
                            for s in train_songs], chunk_frames=chunk_frames, context=context, seed=seed,
                           pitch_shift_bins=(augment or {}).get("pitch_shift_bins"))
    val_pitch = validation_pitch((checkpoint_info or {}).get("pitch_method"), (checkpoint_info or {}).get("config"))
    n_params = num_parameters(model)
    log.info("model: %s parameters; device %s (%s); %d train / %d val songs; %d train frames",
             f"{n_params:,}", device, precision + (" autocast" if amp_dtype is not None else ""),
             len(train_songs), len(val_songs), sum(len(s.targets) for s in train_songs))

    history: list[dict] = []
    best_value, best_epoch, start_epoch, wall_before, bad_epochs = None, None, 0, 0.0, 0
    if settings.resume:
        resume_path = ckpt_dir / "last.pt" if settings.resume == "auto" else Path(settings.resume)
        if settings.resume == "auto" and not resume_path.exists():
            log.info("trainer.resume=auto: no %s yet, starting fresh", resume_path)
        else:
            state = load_checkpoint(resume_path, map_location=device)
            if "optimizer" not in state:
                raise InputError(f"{resume_path}: checkpoint has no optimizer state; cannot resume from it")
            load_weights(model, state["model"], resume_path)
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler") is not None:
                length = getattr(scheduler, "T_max", None)
                scheduler.load_state_dict(state["scheduler"])
                if length is not None and getattr(scheduler, "T_max", None) != length:
                    log.warning("%s: its lr schedule spans %s epochs, the config %s; the checkpoint's schedule "
                                "continues", resume_path, scheduler.T_max, length)
            set_rng_state(state["rng"])
            history = list(state["history"])
            start_epoch = int(state["epoch"])
            best_value, best_epoch = state["best"]["value"], state["best"]["epoch"]
            wall_before = float(state.get("wall_time_s", 0.0))
            bad_epochs = start_epoch - (best_epoch or 0)
            log.info("resumed from %s after epoch %d", resume_path, start_epoch)

    initial = validate(model, val_songs, loss_fn, decode_params, device, settings.segment_frames, pitch=val_pitch)
    check_metric_name(optimized_metric, initial)
    summary = {"status": "running", "parameters": n_params, "device": str(device),
               "precision": precision,
               "optimized_metric": optimized_metric, "direction": direction, "initial": initial}
    t0 = time.time()

    def wall() -> float:
        return wall_before + time.time() - t0

    def record(status: str, reason: str | None = None) -> dict:
        summary.update(status=status, reason=reason, epochs=len(history), wall_time_s=round(wall(), 2),
                       best_epoch=best_epoch, best_value=best_value,
                       final={k: v for k, v in history[-1].items()} if history else {})
        write_json(out_dir / "metrics.json", {"summary": summary, "history": history})
        if history:
            plot_training_curves(history, out_dir / "training_curves.png")
        return summary

    def state_dict(epoch: int) -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "epoch": epoch, "history": history, "rng": rng_state(), "wall_time_s": wall(),
                "best": {"value": best_value, "epoch": best_epoch, "metric": optimized_metric},
                "decode": build_decoder(decode_params).as_dict(), **(checkpoint_info or {})}

    try:
        for epoch in range(start_epoch, settings.max_epochs):
            model.train()
            batches = dataset.epoch_batches(epoch, batch_size)
            if settings.limit_train_batches:
                batches = batches[: int(settings.limit_train_batches)]
            sums, n_seen = {}, 0
            bar = tqdm(batches, desc=f"epoch {epoch + 1}/{settings.max_epochs}", leave=False, disable=None)
            for i, batch in enumerate(bar):
                feats, targets, mask = (t.to(device) for t in batch[:3])
                pitch = batch[3].to(device) if len(batch) > 3 else None
                kwargs = {}
                if frame_step > 1:
                    feats, targets, mask, pitch = every_nth_frame(feats, targets, mask, pitch, frame_step)
                    kwargs = {"frame_step": frame_step}
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = model(feats, **kwargs)
                loss, parts = loss_fn(logits.float(), targets, mask, pitch=pitch)
                if not torch.isfinite(loss):
                    raise TrainingFailed(f"non-finite loss ({float(loss)}) at epoch {epoch + 1}")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if settings.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                n = int(mask.sum())
                n_seen += n
                for k, v in {"loss": loss.detach(), **parts}.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * n
                bar.set_postfix(loss=f"{loss.item():.4f}")
                if logger is not None:
                    logger.log_step(epoch * len(batches) + i, {"train/loss_step": loss.item()})
            metrics = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
            metrics.update({f"train/{k}": v / max(n_seen, 1) for k, v in sums.items()})
            model.eval()
            metrics.update(validate(model, val_songs, loss_fn, decode_params, device, settings.segment_frames,
                                    pitch=val_pitch))
            metrics["wall_time_s"] = round(wall(), 2)
            if optimized_metric not in metrics:
                raise InputError(f"optimized_metric={optimized_metric!r} is not a validation metric; "
                                 f"choose one of {sorted(k for k in metrics if k.startswith('val/'))}")
            value = metrics[optimized_metric]
            history.append(metrics)
            improved = is_better(value, best_value, direction)
            if improved:
                best_value, best_epoch, bad_epochs = value, epoch + 1, 0
            else:
                bad_epochs += 1
            if scheduler is not None:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(value)
                else:
                    scheduler.step()
            log.info("epoch %d/%d  train loss %.4f  val loss %.4f  COnP %.3f  COnPOff %.3f  COn %.3f  %s %.4f%s",
                     epoch + 1, settings.max_epochs, metrics.get("train/loss", float("nan")), metrics["val/loss"],
                     metrics.get("val/COnP_f1", float("nan")), metrics.get("val/COnPOff_f1", float("nan")),
                     metrics.get("val/COn_f1", float("nan")), optimized_metric, value, "  (best)" if improved else "")
            state = state_dict(epoch + 1)
            save_checkpoint(state, ckpt_dir / "last.pt")
            if improved:
                save_checkpoint(state, ckpt_dir / "best.pt")
            if settings.checkpoint_every and (epoch + 1) % settings.checkpoint_every == 0:
                save_checkpoint(state, ckpt_dir / f"epoch_{epoch + 1:03d}.pt")
            record("running")
            if logger is not None:
                logger.log_epoch(epoch + 1, metrics, metrics["lr"])
                logger.log_figure("training_curves", out_dir / "training_curves.png")
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, metrics)
            if settings.early_stopping_patience and bad_epochs >= settings.early_stopping_patience:
                log.info("early stopping: no improvement of %s for %d epochs", optimized_metric, bad_epochs)
                break
            if settings.max_minutes and wall() > 60.0 * settings.max_minutes:
                log.info("stopping: trainer.max_minutes=%s reached", settings.max_minutes)
                break
    except Pruned as exc:
        save_checkpoint(state_dict(len(history)), ckpt_dir / "final.pt")
        record("pruned", str(exc))
        raise
    except TrainingFailed as exc:
        record("failed", str(exc))
        raise
    except torch.cuda.OutOfMemoryError as exc:
        record("failed", f"out of memory: {str(exc).splitlines()[0]}")
        raise TrainingFailed(f"out of memory: {str(exc).splitlines()[0]}") from None
    save_checkpoint(state_dict(len(history)), ckpt_dir / "final.pt")
    return record("completed")
