"""Sweeps: the hooks between a training run and the sweep around it, and Hydra's sweep plugins.

What a training job calls (:mod:`gru_attn.train`):

- :func:`job_device` -- the device to train on, given ``trainer.device``;
- :func:`epoch_callback` -- in an Optuna sweep, reports every epoch to the job's trial
  and raises :class:`gru_attn.engine.Pruned` when the study's pruner says so.

Importing this package also makes known to Hydra (before it composes the config):

- the sweeper ``hydra/sweeper=gru_optuna`` and pruners ``hydra/sweeper/pruner=...``
  (:mod:`gru_attn.sweep.schema`, :mod:`gru_attn.sweep.sweeper`);
- the launcher class behind ``hydra/launcher=gpus`` and the resolver ``${gpu_count:}``
  (the number of visible GPUs, at least 1; see :mod:`gru_attn.sweep.devices`).

Modules: ``devices`` (GPU per job), ``study`` (Optuna bookkeeping: budget, orphans,
heartbeats, grid, pruning reporter), ``runs`` (reading run directories), ``sweeper``
(the sweep loop), ``workers`` (one sweep process per GPU), ``schema`` (configs).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, OmegaConf

from gru_attn.sweep.devices import gpu_count, job_device
from gru_attn.sweep.schema import register_configs

__all__ = ["epoch_callback", "job_device"]

log = logging.getLogger(__name__)

PLUGIN_ROOT = Path(__file__).resolve().parent / "_plugin_root"


def _register_with_hydra() -> None:
    """Register the configs, the ``gpu_count`` resolver and the plugin classes with Hydra.

    Hydra instantiates sweepers and launchers only from modules named ``hydra_plugins.*``
    that it finds on ``sys.path``; ours ships inside this package, in ``_plugin_root/``.
    """
    register_configs()
    OmegaConf.register_new_resolver("gpu_count", lambda: max(gpu_count(), 1), replace=True)
    if str(PLUGIN_ROOT) not in sys.path:
        sys.path.append(str(PLUGIN_ROOT))
    from hydra.core.plugins import Plugins

    import hydra_plugins.gru_attn_sweep as plugin

    for cls in (plugin.GruOptunaSweeper, plugin.GpuJoblibLauncher):
        Plugins.instance().register(cls)


_register_with_hydra()


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
    pruner = hydra.utils.instantiate(sweeper.pruner) if sweeper.get("pruner") is not None else None
    return TrialReporter.connect(absolute_storage_url(str(sweeper.storage), hydra_cfg.runtime.cwd),
                                 str(sweeper.study_name), int(number), metric=str(cfg.optimized_metric),
                                 last_epoch=int(cfg.trainer.max_epochs), pruner=pruner)
