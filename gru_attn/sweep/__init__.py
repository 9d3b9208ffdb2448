"""Sweeps: the hooks between a training run and the sweep around it.

What a training job calls (:mod:`gru_attn.train`):

- :func:`job_device` -- the device to train on, given ``trainer.device``;
- :func:`epoch_callback` -- in an Optuna sweep, reports every epoch to the job's trial
  and raises :class:`gru_attn.engine.Pruned` when the study's pruner says so.

Importing this package registers nothing with Hydra. The sweeper ``hydra/sweeper=gru_optuna``,
its pruners, the launcher ``hydra/launcher=gpus`` and the resolver ``${gpu_count:}`` are
registered by ``hydra_plugins.gru_attn_sweep``, a module of the installed ``hydra_plugins``
namespace package that Hydra imports when it discovers plugins.

Modules: ``devices`` (GPU per job), ``study`` (Optuna bookkeeping: storages, budget,
orphans, grid queue, pruning reporter), ``runs`` (reading run directories), ``sweeper``
(the sweep loop), ``workers`` (one sweep process per GPU), ``schema`` (configs), ``table``
and ``figures`` (the comparison of ``python -m gru_attn.compare``).
"""

from __future__ import annotations

import logging
from typing import Callable

from omegaconf import DictConfig

from gru_attn.sweep.devices import job_device

__all__ = ["epoch_callback", "job_device"]

log = logging.getLogger(__name__)


def epoch_callback(cfg: DictConfig) -> Callable[[int, dict], None] | None:
    """The per-epoch callback ``(epoch, metrics) -> None`` of a job inside a ``gru_optuna`` sweep, else None.

    The sweeper gives each job its trial number (``optuna_trial``); the study is found
    through the sweeper's storage, and pruned by the sweeper's pruner.
    """
    number = cfg.get("optuna_trial")
    if number is None:
        return None
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from gru_attn.sweep.study import TrialReporter, absolute_storage_url

    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    if not sweeper.get("storage"):
        log.warning("optuna_trial=%s but the study has no storage: epochs are not reported, no pruning", number)
        return None
    pruner = (
        hydra.utils.instantiate(sweeper.pruner, _execution_whitelist_=["optuna.pruners.*"])
        if sweeper.get("pruner") is not None
        else None
    )
    return TrialReporter.connect(
        absolute_storage_url(str(sweeper.storage), hydra_cfg.runtime.cwd),
        str(sweeper.study_name),
        int(number),
        metric=str(cfg.optimized_metric),
        last_epoch=int(cfg.trainer.max_epochs),
        pruner=pruner,
    )
