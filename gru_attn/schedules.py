"""Learning-rate schedules set after every optimisation step.

torch's schedulers in ``conf/scheduler/`` are stepped once per epoch by the engine: over 3
epochs a cosine runs at 3 levels (1e-3, 7.5e-4, 2.5e-4), over 2 at 1e-3 and 5e-4, never low.
:class:`WarmupCosine` is the default (``scheduler=warmup_cosine``). A class here has
``per_batch = True``: the engine builds it with ``steps_per_epoch`` (the batches of one epoch,
after ``trainer.limit_train_batches``) and steps it after every batch, so the lr follows the
run's progress step by step.
"""

from __future__ import annotations

import math

import torch

from gru_attn.errors import InputError


class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
    """Linear warm-up over the first ``warmup`` share of the run's steps, then a cosine from each
    group's lr to ``eta_min`` at the last step of ``epochs`` epochs of ``steps_per_epoch`` steps.

    ``lr(s)`` at step ``s`` (0-based, ``n = epochs * steps_per_epoch``, ``w = round(warmup * n)``):
    ``base * (s + 1) / w`` for ``s < w``, else
    ``eta_min + (base - eta_min) * (1 + cos(pi * (s - w) / (n - w))) / 2``.
    """

    per_batch = True

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        epochs: int,
        steps_per_epoch: int,
        warmup: float = 0.0,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ):
        for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"scheduler.{name}={value!r} must be a positive integer")
        if not 0.0 <= float(warmup) < 1.0:
            raise InputError(f"scheduler.warmup={warmup!r} must be in [0, 1) (a share of the run's steps)")
        if float(eta_min) < 0.0:
            raise InputError(f"scheduler.eta_min={eta_min!r} must be >= 0")
        self.total_steps = epochs * steps_per_epoch
        self.warmup_steps = round(float(warmup) * self.total_steps)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base: float) -> float:
        """The lr of 0-based ``step`` for a group whose initial lr is ``base``."""
        if step < self.warmup_steps:
            return base * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return self.eta_min + (base - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self) -> list[float]:
        return [self.lr_at(self.last_epoch, base) for base in self.base_lrs]
