"""Which device each sweep job trains on (plain Python: no Hydra).

Two ways to spread a sweep over the GPUs of one machine:

- ``hydra/launcher=gpus``: synchronous batches of ``n`` jobs (``n`` = the number of
  GPUs); job number ``k`` trains on ``cuda:(k % n)``, so the jobs of one batch never share
  a GPU. The launcher chooses the device explicitly, because joblib reuses its worker
  processes (``CUDA_VISIBLE_DEVICES`` set inside a job would not stick).
- ``python -m gru_attn.sweep.workers --gpus 0,1``: one sweep process per GPU, each
  started with ``trainer.device=cuda:i``.

``GRU_ATTN_FAKE_GPUS=n`` pretends that ``n`` GPUs are visible, so the assignment can be
tested (and dry-run) on a machine without CUDA: devices are assigned as if the GPUs
existed, and every ``cuda:i`` then trains on the CPU.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

FAKE_GPUS_ENV = "GRU_ATTN_FAKE_GPUS"


def fake_gpu_count() -> int | None:
    """The GPU count forced by ``GRU_ATTN_FAKE_GPUS``, or None when it is unset."""
    value = os.environ.get(FAKE_GPUS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{FAKE_GPUS_ENV}={value!r}: expected a number of GPUs (0, 1, 2, ...)")
    return int(value)


def gpu_count() -> int:
    """The number of visible CUDA devices (``GRU_ATTN_FAKE_GPUS`` when set)."""
    fake = fake_gpu_count()
    return fake if fake is not None else torch.cuda.device_count()


def device_for_job(job_num: int, n_gpus: int) -> str:
    """``cuda:(job_num % n_gpus)``, or ``cpu`` when there is no GPU."""
    if n_gpus <= 0:
        return "cpu"
    return f"cuda:{job_num % n_gpus}"


def job_device(spec: str) -> str:
    """The device a job trains on, given ``trainer.device``.

    Returns ``spec`` unchanged, except under ``GRU_ATTN_FAKE_GPUS`` on a machine
    without CUDA, where a ``cuda`` / ``cuda:i`` device (as assigned by the sweep)
    becomes ``cpu``.
    """
    spec = str(spec)
    if spec.startswith("cuda") and fake_gpu_count() is not None and not torch.cuda.is_available():
        log.info("%s is set: %s (assigned by the sweep) trains on the CPU", FAKE_GPUS_ENV, spec)
        return "cpu"
    return spec
