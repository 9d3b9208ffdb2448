"""gru_attn's Hydra plugins, imported as ``hydra_plugins.gru_attn_sweep``.

Hydra instantiates sweepers and launchers only from modules named ``hydra_plugins.*``;
:mod:`gru_attn.sweep` puts this file's root folder on ``sys.path`` and registers the
classes. They stay thin: the work is done in :mod:`gru_attn.sweep`.

- :class:`GruOptunaSweeper` (``hydra/sweeper=gru_optuna``): hydra-optuna-sweeper, made
  resumable, shareable between processes, and able to prune.
- :class:`GpuJoblibLauncher` (``hydra/launcher=gpus``): joblib in synchronous batches of
  ``n_jobs`` (= GPUs) jobs; job ``k`` gets ``trainer.device=cuda:(k % n_jobs)``.
"""

from __future__ import annotations

from typing import Any, List, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from omegaconf import DictConfig


class GruOptunaSweeper(Sweeper):
    """Hydra's face of :class:`gru_attn.sweep.sweeper.ResumableOptunaSweeperImpl`."""

    def __init__(self, **kwargs: Any) -> None:
        from gru_attn.sweep.sweeper import ResumableOptunaSweeperImpl

        self.sweeper = ResumableOptunaSweeperImpl(**kwargs)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        return self.sweeper.sweep(arguments)


class GpuJoblibLauncher(JoblibLauncher):
    """Joblib launcher that runs ``n_jobs`` jobs at a time, job ``k`` on ``cuda:(k % n_jobs)``.

    Batches are synchronous, so the jobs running together always have distinct GPUs.
    Without any GPU (and without ``GRU_ATTN_FAKE_GPUS``) every job gets ``cpu``.
    """

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from gru_attn.sweep.devices import device_for_job, gpu_count

        n = max(int(self.joblib["n_jobs"]), 1)
        n_gpus = n if gpu_count() > 0 else 0
        returns: list[JobReturn] = []
        for start in range(0, len(job_overrides), n):
            first = initial_job_idx + start
            batch = [list(overrides) + [f"trainer.device={device_for_job(first + i, n_gpus)}"]
                     for i, overrides in enumerate(job_overrides[start:start + n])]
            returns.extend(super().launch(batch, initial_job_idx=first))
        return returns
