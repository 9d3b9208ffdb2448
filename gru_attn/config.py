"""Config helpers shared by the Hydra entry points and tests.

Importing this module registers the OmegaConf resolvers the configs use:
``${mode_of:maximize}`` -> ``max`` (and ``minimize`` -> ``min``), so the
plateau scheduler follows ``optimized_direction``.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

OmegaConf.register_new_resolver(
    "mode_of", lambda direction: "max" if direction == "maximize" else "min", replace=True)


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` outside a Hydra run (tests, tools)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides or []), return_hydra_config=True)
