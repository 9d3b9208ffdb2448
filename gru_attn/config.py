"""Config helpers shared by the Hydra entry points and tests.

Importing this module registers the OmegaConf resolvers the configs use:
``${mode_of:maximize}`` -> ``max`` (and ``minimize`` -> ``min``), so the
plateau scheduler follows ``optimized_direction``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from gru_attn.errors import InputError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

# The targets a config's ``_target_`` may name (Hydra's ``_execution_whitelist_``: exact names,
# or a package prefix ending in ``.*``): this package and torch's optimizers / LR schedulers.
# Every ``hydra.utils.instantiate`` of a project config passes it; anything else is refused.
TARGET_WHITELIST = ["gru_attn.*", "torch.optim.*"]


def target_allowed(target: str) -> bool:
    """Whether ``target`` (a dotted ``_target_`` string) matches :data:`TARGET_WHITELIST`, with
    Hydra's rule: an entry ending in ``.*`` allows every name under that package prefix."""
    return any(target.startswith(entry[:-1]) if entry.endswith(".*") else target == entry for entry in TARGET_WHITELIST)


def instantiate(group: str, config, **kwargs):
    """``hydra.utils.instantiate(config, **kwargs)`` restricted to :data:`TARGET_WHITELIST`, for
    every project config (training, evaluate's corpus, pitch trackers); a bad value (InputError or
    ValueError raised by the target, a target outside the whitelist or one that cannot be built)
    becomes one InputError naming the config ``group``."""
    target = config.get("_target_") if hasattr(config, "get") else None
    if isinstance(target, str) and not target_allowed(target):
        raise InputError(
            f"{group}: _target_ {target!r} is not allowed: config targets must be in " + " or ".join(TARGET_WHITELIST)
        )
    try:
        return hydra.utils.instantiate(config, **kwargs, _execution_whitelist_=TARGET_WHITELIST)
    except hydra.errors.InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, (InputError, ValueError)):
            raise InputError(f"{group}: {cause}") from None
        reason = " ".join(str(exc).split("\nfull_key:")[0].split()) or type(exc).__name__
        raise InputError(f"{group}: cannot build {target!r}: {reason}") from None


def _mode_of(direction: str) -> str:
    """``maximize`` -> ``max``, anything else -> ``min`` (the plateau scheduler's ``mode``)."""
    return "max" if direction == "maximize" else "min"


OmegaConf.register_resolver("mode_of", _mode_of, replace=True)


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` outside a Hydra run (tests, tools)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR)):
        return hydra_compose(config_name=config_name, overrides=list(overrides or []), return_hydra_config=True)
