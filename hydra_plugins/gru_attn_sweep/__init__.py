"""gru_attn's Hydra plugins, found by Hydra's plugin discovery in the installed ``hydra_plugins``
namespace package (see ``[tool.setuptools.packages.find]`` in pyproject.toml).

Importing this module (Hydra does, when it starts an app) registers:

- :class:`GruOptunaSweeper` (``hydra/sweeper=gru_optuna``), its pruners
  (``hydra/sweeper/pruner=...``) and samplers that keep Optuna's own defaults
  (``hydra/sweeper/sampler=...``): see :mod:`gru_attn.sweep.sweeper` and :mod:`gru_attn.sweep.schema`;
- :class:`GpuJoblibLauncher` (``hydra/launcher=gpus``): joblib in synchronous batches of
  ``n_jobs`` (= GPUs) jobs; job ``k`` gets ``trainer.device=cuda:(k % n_jobs)``;
- the resolver ``${gpu_count:}``: the number of visible GPUs, at least 1.
"""

from __future__ import annotations

from typing import Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from omegaconf import OmegaConf

from gru_attn.sweep.devices import device_for_job, gpu_count
from gru_attn.sweep.schema import register_configs
from gru_attn.sweep.sweeper import GruOptunaSweeper

__all__ = ["GpuJoblibLauncher", "GruOptunaSweeper"]


class GpuJoblibLauncher(JoblibLauncher):
    """Joblib launcher that runs ``n_jobs`` jobs at a time, job ``k`` on ``cuda:(k % n_jobs)``.

    Batches are synchronous, so the jobs running together always have distinct GPUs.
    Without any GPU (and without ``GRU_ATTN_FAKE_GPUS``) every job gets ``cpu``.
    """

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        n = max(int(self.joblib["n_jobs"]), 1)
        n_gpus = n if gpu_count() > 0 else 0
        returns: list[JobReturn] = []
        for start in range(0, len(job_overrides), n):
            first = initial_job_idx + start
            batch = [
                list(overrides) + [f"trainer.device={device_for_job(first + i, n_gpus)}"]
                for i, overrides in enumerate(job_overrides[start : start + n])
            ]
            returns.extend(super().launch(batch, initial_job_idx=first))
        return returns


def visible_gpus() -> int:
    """``${gpu_count:}``: the number of visible GPUs, at least 1."""
    return max(gpu_count(), 1)


register_configs()
OmegaConf.register_resolver("gpu_count", visible_gpus, replace=True)
