"""Structured configs of the sweeper (``hydra/sweeper=gru_optuna``) and its pruners.

Registered in Hydra's ConfigStore by the plugin module ``hydra_plugins.gru_attn_sweep``,
which Hydra imports when it discovers its plugins (an installed namespace package):

- ``hydra/sweeper/gru_optuna``: samplers, storage, study name, trial budget and search
  space as in hydra-optuna-sweeper, plus ``pruner``, ``heartbeat_interval``,
  ``grace_period`` and ``reseed``; ``n_jobs`` (trials per batch) defaults to the
  launcher's parallelism, ``storage`` to an SQLite file in the sweep dir, ``direction``
  to the app's ``optimized_direction``;
- ``hydra/sweeper/pruner/{median,successive_halving,hyperband,none}``;
- ``hydra/sweeper/sampler/{tpe,random,cmaes,gp,qmc,nsgaii,nsgaiii}``: every constructor
  argument of the Optuna sampler with the installed Optuna's own default, so a sweep
  gets Optuna's defaults unless its config sets a value. hydra-optuna-sweeper
  1.4.0rc3's configs of the same names pin e.g. TPE's ``multivariate: false`` and
  ``constant_liar: false``, while Optuna 5's TPE defaults to the multivariate TPE and
  ``constant_liar=True``, which keeps parallel workers from being handed near-duplicate
  trials. These configs replace the plugin's; ``grid`` (queued by the sweeper) stays
  the plugin's.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Dict, List, Optional

import optuna
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# hydra/sweeper/sampler=<name> -> the class in optuna.samplers
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
    "qmc": "QMCSampler",
    "nsgaii": "NSGAIISampler",
    "nsgaiii": "NSGAIIISampler",
}


@dataclass
class PrunerConfig:
    _target_: str = MISSING


@dataclass
class MedianPrunerConfig(PrunerConfig):
    """Stop a trial whose best value so far is worse than the median of earlier trials at the same epoch."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 4  # never prune before this many trials have finished
    n_warmup_steps: int = 0  # never prune before this epoch
    interval_steps: int = 1
    n_min_trials: int = 1  # trials that must have reported an epoch before it is compared


@dataclass
class SuccessiveHalvingPrunerConfig(PrunerConfig):
    """Asynchronous successive halving: keep the top 1/reduction_factor at each rung (epoch min_resource * rf^k)."""

    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = 1
    reduction_factor: int = 2
    min_early_stopping_rate: int = 0


@dataclass
class HyperbandPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3


@dataclass
class NopPrunerConfig(PrunerConfig):
    """Never prune."""

    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class GruOptunaSweeperConf:
    """The sweeper's settings (:class:`gru_attn.sweep.sweeper.GruOptunaSweeper`)."""

    _target_: str = "gru_attn.sweep.sweeper.GruOptunaSweeper"
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "median"}])
    # hydra-optuna-sweeper's samplers: hydra/sweeper/sampler={tpe,random,grid,cmaes,gp,qmc,...}
    sampler: Any = MISSING
    direction: Any = "${optimized_direction}"
    # Where the study lives (next to its runs, so re-running the same command resumes it):
    # sqlite:///<file>, journal:///<file> (Optuna's JournalStorage, file backend) or a
    # PostgreSQL URL; null: in memory (no resume, no pruning, no sharing).
    storage: Optional[str] = "sqlite:///${hydra.sweep.dir}/optuna.db"
    study_name: Optional[str] = None
    n_trials: int = 20
    # Trials asked per batch; null: the launcher's parallelism (GPU count for hydra/launcher=gpus).
    n_jobs: Optional[int] = None
    # Fraction of crashed jobs per batch tolerated before the sweep re-raises their error.
    max_failure_rate: float = 0.0
    # The search space in Hydra's override syntax, e.g. {model.hidden_dim: "choice(128, 256)"}.
    params: Optional[Dict[str, str]] = None
    # Stops hopeless trials early (the training job reports every epoch to its trial).
    pruner: Any = MISSING
    # Seconds between heartbeats of this process's running trials ...
    heartbeat_interval: float = 30.0
    # ... and how stale a heartbeat may get before its trial counts as orphaned
    # (null: 4 x heartbeat_interval). On the same host a dead pid is detected at once.
    grace_period: Optional[float] = None
    # Draw fresh sampler randomness instead of the configured seed (set by
    # gru_attn.sweep.workers for all but its first worker; a resumed study always does).
    reseed: bool = False


def sampler_config(class_name: str) -> type:
    """Structured config of ``optuna.samplers.<class_name>``: ``_target_`` and one field per
    keyword argument of its constructor, defaulting to Optuna's own default (None where that
    is no plain value)."""
    params = [
        p
        for p in inspect.signature(getattr(optuna.samplers, class_name)).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    plain = (type(None), bool, int, float, str)
    return make_dataclass(
        f"{class_name}Config",
        [("_target_", str, field(default=f"optuna.samplers.{class_name}"))]
        + [(p.name, Any, field(default=p.default if isinstance(p.default, plain) else None)) for p in params],
    )


def register_configs() -> None:
    """Store the configs above in Hydra's ConfigStore (idempotent), the samplers over the plugin's."""
    import hydra_plugins.hydra_optuna_sweeper.config  # noqa: F401  (stores its samplers first, once)

    store = ConfigStore.instance()
    for name, class_name in SAMPLERS.items():
        store.store(
            group="hydra/sweeper/sampler", name=name, node=sampler_config(class_name), provider="gru_attn", replace=True
        )
    store.store(group="hydra/sweeper", name="gru_optuna", node=GruOptunaSweeperConf, provider="gru_attn")
    for name, node in {
        "median": MedianPrunerConfig,
        "successive_halving": SuccessiveHalvingPrunerConfig,
        "hyperband": HyperbandPrunerConfig,
        "none": NopPrunerConfig,
    }.items():
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="gru_attn")
